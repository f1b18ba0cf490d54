// Host description of a new recording, and header/trailer conversions.
#include <sys/utsname.h>
#include <unistd.h>

#include <climits>

#include "record/recording_internal.h"
#include "util/clock.h"

namespace cgotrace {
RecordingHeader CurrentHostHeader() {
  RecordingHeader h;
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) {
    h.hostname = host;
  }
  utsname u{};
  if (uname(&u) == 0) {
    h.kernel_release = u.release;
    h.machine = u.machine;
  }
  h.start_realtime_ns = RealtimeNs();
  h.start_monotonic_ns = MonotonicNs();
  return h;
}

namespace recording {

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

v1::Header ToProto(const RecordingHeader& h) {
  v1::Header p;
  p.set_format_version(h.format_version);
  p.set_tool_version(h.tool_version);
  p.set_hostname(h.hostname);
  p.set_kernel_release(h.kernel_release);
  p.set_machine(h.machine);
  p.set_start_realtime_ns(h.start_realtime_ns);
  p.set_start_monotonic_ns(h.start_monotonic_ns);
  for (const std::string& a : h.argv) {
    p.add_argv(a);
  }
  for (const std::string& t : h.targets) {
    p.add_targets(t);
  }
  p.set_call_stacks(h.call_stacks);
  p.set_batch_events(h.batch_events);
  return p;
}

RecordingHeader FromProto(const v1::Header& p) {
  RecordingHeader h;
  h.format_version = p.format_version();
  h.tool_version = p.tool_version();
  h.hostname = p.hostname();
  h.kernel_release = p.kernel_release();
  h.machine = p.machine();
  h.start_realtime_ns = p.start_realtime_ns();
  h.start_monotonic_ns = p.start_monotonic_ns();
  h.argv.assign(p.argv().begin(), p.argv().end());
  h.targets.assign(p.targets().begin(), p.targets().end());
  h.call_stacks = p.call_stacks();
  h.batch_events = p.batch_events();
  return h;
}

v1::Trailer ToProto(const RecordingTrailer& t) {
  v1::Trailer p;
  p.set_events(t.events);
#define CGOTRACE_TO_PROTO(name, ...) p.set_##name(t.name);
  CGOTRACE_RUN_COUNTERS(CGOTRACE_TO_PROTO)
#undef CGOTRACE_TO_PROTO
  p.set_end_realtime_ns(t.end_realtime_ns);
  p.set_end_monotonic_ns(t.end_monotonic_ns);
  p.set_exit_status(t.exit_status);
  return p;
}

RecordingTrailer FromProto(const v1::Trailer& p) {
  RecordingTrailer t;
  t.events = p.events();
#define CGOTRACE_FROM_PROTO(name, ...) t.name = p.name();
  CGOTRACE_RUN_COUNTERS(CGOTRACE_FROM_PROTO)
#undef CGOTRACE_FROM_PROTO
  t.end_realtime_ns = p.end_realtime_ns();
  t.end_monotonic_ns = p.end_monotonic_ns();
  t.exit_status = p.exit_status();
  return t;
}

}  // namespace recording
}  // namespace cgotrace
