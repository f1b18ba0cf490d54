// cgotrace record: every cgo call of the targets into a recording file, for
// `cgotrace report` later.
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "cgotrace/recording.h"
#include "commands.h"
#include "common.h"
#include "process/process.h"
#include "util/clock.h"
#include "util/format.h"

namespace cgotrace::cli {
namespace {

constexpr uint64_t kTickNs = 1'000'000'000;  // batch flush and progress period

struct RecordFlags {
  TargetFlags targets;
  std::string output = "cgotrace.data";
  bool call_stacks = false;
  bool breakdown = false;
  uint32_t batch_events = kDefaultBatchEvents;
};

// Our own command line, exactly as run (main() does not keep argv).
std::vector<std::string> OwnArgv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find('\0', pos);
    if (end == std::string::npos) {
      end = all.size();
    }
    argv.push_back(all.substr(pos, end - pos));
    pos = end + 1;
  }
  return argv;
}

// One status line on a terminal, rewritten in place: events, rate, lost, size.
class Progress {
 public:
  explicit Progress(uint64_t start_ns) : enabled_(isatty(STDERR_FILENO) == 1), last_ns_(start_ns) {}
  void Update(uint64_t now_ns, uint64_t events, uint64_t lost, uint64_t bytes) {
    if (!enabled_) {
      return;
    }
    const double secs = static_cast<double>(now_ns - last_ns_) / 1e9;
    const double rate = secs > 0 ? static_cast<double>(events - last_events_) / secs : 0;
    fmt::print(stderr, "\r\033[Kcgotrace: recording: {} events ({:.0f}/s), {} lost, {}", events,
               rate, lost, HumanBytes(bytes));
    (void)fflush(stderr);
    shown_ = true;
    last_ns_ = now_ns;
    last_events_ = events;
  }
  void Clear() {
    if (shown_) {
      fmt::print(stderr, "\r\033[K");
    }
  }

 private:
  bool enabled_;
  bool shown_ = false;
  uint64_t last_ns_;
  uint64_t last_events_ = 0;
};

int RunRecord(const RecordFlags& flags) {
  auto opts = MakeSessionOptions(flags.targets);
  if (!opts) {
    return Usage(opts.error());
  }
  if (flags.batch_events == 0) {
    return Usage(MakeError("--batch-events must be at least 1"));
  }
  // Before attaching: a recording that cannot be stored is not worth
  // breakpoints in the targets.
  if (auto writable = CheckWritable(flags.output); !writable) {
    return Fail(writable.error());
  }
  opts->tracer.call_stacks = flags.call_stacks;
  opts->tracer.breakdown = flags.breakdown;
  opts->tick_ns = kTickNs;
  RecordingHeader header = CurrentHostHeader();
  header.tool_version = CGOTRACE_VERSION;
  header.argv = OwnArgv();
  header.call_stacks = flags.call_stacks;
  header.batch_events = flags.batch_events;

  Session::InstallSignalHandlers();
  auto session = Session::Start(*opts);
  if (!session) {
    return Fail(session.error());
  }
  header.targets = (*session)->described_targets();
  // What the tracer's analysis found, so the writer never reopens a binary.
  auto lookup = [&session](const std::string& binary_path) {
    RecordedBinary out;
    out.path = ReadableExePath(binary_path);
    out.position_of = [&session, binary_path](uint64_t pc) {
      auto at = (*session)->SourceLineAt(binary_path, pc);
      return at ? SourcePosition{at->first, at->second} : SourcePosition{};
    };
    for (const BinaryStatus& b : (*session)->Binaries()) {
      if (b.path == binary_path) {
        out.build_id = b.build_id;
        out.go_version = b.go_version;
      }
    }
    return out;
  };
  auto writer = RecordingWriter::Create(flags.output, header, lookup);
  if (!writer) {
    return Fail(writer.error());
  }
  ReportAttached(**session);

  RecordingWriter& w = **writer;
  Progress progress(MonotonicNs());
  std::optional<Error> write_error;
  auto on_event = [&](const CgoEvent& ev) {
    if (write_error) {
      return;
    }
    if (auto r = w.Add(ev); !r) {
      write_error = r.error();
      Session::RequestStop();
    }
  };
  auto on_tick = [&](uint64_t now) {
    const uint64_t lost = (*session)->Stats().lost;
    w.SetLost(lost);
    if (!write_error) {
      if (auto r = w.Flush(); !r) {
        write_error = r.error();
        Session::RequestStop();
      }
    }
    progress.Update(now, w.events(), lost, w.bytes_written());
  };
  auto total = (*session)->Run(on_event, on_tick);
  progress.Clear();
  if (!total) {
    return Fail(total.error());
  }
  const TracerStats st = (*session)->Stats();
  if (!write_error) {
    w.SetLost(st.lost);
    RecordingTrailer trailer;
#define CGOTRACE_COPY(name, ...) trailer.name = st.name;
    CGOTRACE_RUN_COUNTERS(CGOTRACE_COPY)
#undef CGOTRACE_COPY
    trailer.exit_status = (*session)->child_status();
    if (auto r = w.Finish(trailer); !r) {
      write_error = r.error();
    }
  }
  ReportTotals(**session, *total);
  if (write_error) {
    return Fail(MakeError("{} (the recording holds the {} events written before)",
                          write_error->message, w.events()));
  }
  const uint64_t events = w.events();
  fmt::print(stderr, "cgotrace: recorded {} events to {} ({}{})\n", events, flags.output,
             HumanBytes(w.bytes_written()),
             events ? fmt::format(", {:.1f} bytes/event", static_cast<double>(w.bytes_written()) /
                                                              static_cast<double>(events))
                    : "");
  return SuccessStatus(**session);
}

}  // namespace

void RegisterRecord(CLI::App* app, std::function<int()>* run) {
  auto flags = std::make_shared<RecordFlags>();
  CLI::App* sub = app->add_subcommand(
      "record", "Record every cgo call of the targets to a file for `cgotrace report`");
  AddTargetFlags(sub, &flags->targets);
  sub->add_option("-o,--output", flags->output, "Recording file (default cgotrace.data)");
  AddBreakdownFlag(sub, &flags->breakdown);
  sub->add_flag("--call-stacks", flags->call_stacks,
                "Record each call's Go call stack (for folded stacks and flame graphs)");
  sub->add_option("--batch-events", flags->batch_events,
                  "Events per batch written to the file (default 4096); a killed recorder loses "
                  "at most one batch or one second of events");
  sub->callback([flags, run] { *run = [flags] { return RunRecord(*flags); }; });
  SetCommandSink(sub, &flags->targets.command);
}

}  // namespace cgotrace::cli
