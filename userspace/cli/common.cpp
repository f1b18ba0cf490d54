#include "common.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "util/duration.h"

namespace cgotrace::cli {

void AddBreakdownFlag(CLI::App* app, bool* breakdown) {
  app->add_flag("--breakdown", *breakdown,
                "Split each call into time in C and time re-entering Go (waiting for a P); "
                "costs a single-stepped probe per call");
}

void AddTargetFlags(CLI::App* app, TargetFlags* flags) {
  app->add_option("-p,--pid", flags->pids, "Trace this running process (repeatable)");
  app->add_option("--binary", flags->binaries,
                  "Trace every process running this executable, including later ones");
  app->add_option("--duration", flags->duration,
                  "Stop after this long (e.g. 10s, 500ms; 1ms to 8784h)");
  app->add_flag("-v,--verbose", flags->verbose, "Show libbpf and verifier messages");
  app->footer("Launch a program under tracing: cgotrace " + app->get_name() +
              " [options] -- ./app args...");
}

Result<SessionOptions> MakeSessionOptions(const TargetFlags& flags) {
  SessionOptions opts;
  for (int pid : flags.pids) {
    if (pid <= 0) {
      return MakeError("invalid PID {}", pid);
    }
    opts.targets.pids.push_back(pid);
  }
  opts.targets.binaries = flags.binaries;
  opts.targets.command = flags.command;
  if (opts.targets.empty()) {
    return MakeError("no target: give -p PID, --binary PATH or -- COMMAND (see --help)");
  }
  if (!flags.duration.empty()) {
    auto d = ParseDuration("--duration", flags.duration, kRunDurationRange);
    if (!d) {
      return d.error();
    }
    opts.duration_ns = *d;
  }
  opts.tracer.verbose = flags.verbose;
  return opts;
}

int Fail(const Error& error) {
  fmt::print(stderr, "cgotrace: {}\n", error.message);
  return kExitFailure;
}

int Usage(const Error& error) {
  fmt::print(stderr, "cgotrace: {}\n", error.message);
  return kExitUsage;
}

Result<void> CheckWritable(const std::string& path) {
  struct stat st {};
  const bool existed = stat(path.c_str(), &st) == 0;
  if (existed && S_ISDIR(st.st_mode)) {
    return MakeError("cannot create {}: it is a directory", path);
  }
  // O_CREAT without O_TRUNC: an existing file is only truncated once the
  // writer writes; a file made just for this check goes again, so a failed
  // attach leaves nothing behind.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeError("cannot create {}: {}", path, strerror(errno));
  }
  close(fd);
  if (!existed) {
    unlink(path.c_str());
  }
  return Ok();
}

Result<Output> Output::Open(const std::string& path) {
  if (path.empty() || path == "-") {
    return Output(stdout, false);
  }
  FILE* f = fopen(path.c_str(), "w");
  if (f == nullptr) {
    return MakeError("cannot create output file {}: {}", path, strerror(errno));
  }
  return Output(f, true);
}

Result<void> Output::Close() {
  FILE* f = file_;
  file_ = nullptr;
  if (f == nullptr) {
    return Ok();
  }
  // fclose flushes: a full disk shows up here, and must not pass silently.
  if ((owned_ ? fclose(f) : fflush(f)) != 0) {
    return MakeError("writing output failed: {}", strerror(errno));
  }
  return Ok();
}

Output::~Output() {
  if (owned_ && file_ != nullptr) {
    (void)fclose(file_);  // error paths only: Close() reports errors
  }
}

void ReportAttached(const Session& session) {
  std::string targets;
  for (const std::string& t : session.described_targets()) {
    targets += (targets.empty() ? "" : ", ") + t;
  }
  fmt::print(stderr, "cgotrace: attached {} probes to {}; Ctrl-C to stop\n", session.probe_count(),
             targets);
}

int SuccessStatus(const Session& session) {
  const int status = session.child_status();
  return status > 0 && !session.child_stopped_by_session() ? status : 0;
}

void ReportTotals(const Session& session, uint64_t delivered) {
  TracerStats st = session.Stats();
  // Every run counter that is not zero, lost always.
  std::string rest;
#define CGOTRACE_SHOW(name, text, ...)                                       \
  if (std::string_view(#name) != "lost" && st.name != 0) {                   \
    rest += fmt::format("{}{} {}", rest.empty() ? "" : ", ", st.name, text); \
  }
  CGOTRACE_RUN_COUNTERS(CGOTRACE_SHOW)
  CGOTRACE_LIVE_COUNTERS(CGOTRACE_SHOW)
#undef CGOTRACE_SHOW
  if (st.unreturned != 0) {
    rest += fmt::format(
        " [{} cut off by a process exit, {} by a panic through C, {} evicted, {} still in C]",
        st.unreturned_exit, st.unreturned_panic, st.unreturned_evicted, st.unreturned_in_c);
  }
  if (st.callbacks_unreturned != 0) {
    rest += fmt::format("{}{} callbacks without a return", rest.empty() ? "" : ", ",
                        st.callbacks_unreturned);
  }
  // Calls counted in the kernel (stat) are events that never needed a
  // record; say how many did cross the ring buffer.
  if (st.aggregated != 0) {
    rest += fmt::format("{}{} counted in the kernel, {} through the ring buffer",
                        rest.empty() ? "" : ", ", st.aggregated, st.events);
  }
  fmt::print(stderr, "cgotrace: {} events, {} lost{}\n", delivered + st.aggregated, st.lost,
             rest.empty() ? "" : " (" + rest + ")");
  // Only counted while the kernel.bpf_stats_enabled sysctl is 1.
  ProgramStats ps = session.ProgramRunStats();
  if (ps.run_count != 0) {
    fmt::print(stderr, "cgotrace: BPF programs ran {} times, {:.0f} ns per run\n", ps.run_count,
               static_cast<double>(ps.run_time_ns) / static_cast<double>(ps.run_count));
  }
}

}  // namespace cgotrace::cli
