// cgotrace top: every thread of a Go process that is inside a cgo call right
// now, from sampling (no per-call probe), refreshed like top(1).
#include <fmt/format.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include "cgotrace/session.h"
#include "commands.h"
#include "common.h"
#include "sample/target_process.h"
#include "sampleview/top_view.h"
#include "sampling.h"
#include "util/clock.h"
#include "util/duration.h"

namespace cgotrace::cli {
namespace {

struct TopFlags {
  int pid = 0;
  std::string interval = "1s";
  std::string sort = "age";
  std::string format = "text";
  bool once = false;
  bool verbose = false;
};

// Puts the terminal in non-canonical, no-echo mode while alive, so single
// keys (a, f, g, q) reach top without Enter.
class RawTerminal {
 public:
  RawTerminal() {
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
  }
  ~RawTerminal() {
    if (active_) {
      tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return active_; }

 private:
  termios saved_{};
  bool active_ = false;
};

TopSnapshot Snapshot(SampledProcess& p, const std::vector<ThreadSample>& threads) {
  TopSnapshot snap = BuildTopSnapshot(p.pid, threads, p.tracker, *p.namer);
  snap.goroutines = ReadGoroutineCount(p.pid, *p.binary, p.bias);
  snap.thread_limit = ReadThreadLimit(p.pid, *p.binary, p.bias);
  return snap;
}

Result<std::vector<ThreadSample>> SampleAndTrack(SampledProcess& p) {
  auto threads = p.sampler->Sample();
  if (!threads) {
    return threads.error();
  }
  if (threads->empty()) {
    return MakeError("PID {} exited", p.pid);
  }
  p.tracker.Update(*threads);
  return threads;
}

int RunTop(const TopFlags& flags) {
  auto sort = ParseTopSort(flags.sort);
  if (!sort) {
    return Fail(sort.error());
  }
  if (flags.format != "text" && flags.format != "json") {
    return Fail(MakeError("unknown format '{}' (expected text or json)", flags.format));
  }
  if (flags.pid <= 0) {
    return Fail(MakeError("no target: give -p PID (see --help)"));
  }
  auto interval = ParseDuration("--interval", flags.interval, kIntervalRange);
  if (!interval) {
    return Usage(interval.error());
  }
  Session::InstallSignalHandlers();
  auto proc = OpenSampledProcess(flags.pid, flags.verbose);
  if (!proc) {
    return Fail(proc.error());
  }
  SampledProcess& p = **proc;

  if (flags.once) {
    // Two samples one interval apart: calls seen in both have lasted at
    // least that long; calls that began in between get an exact age.
    if (auto first = SampleAndTrack(p); !first) {
      return Fail(first.error());
    }
    SleepUntil(MonotonicNs() + *interval);
    auto threads = SampleAndTrack(p);
    if (!threads) {
      return Fail(threads.error());
    }
    TopSnapshot snap = Snapshot(p, *threads);
    SortTopCalls(&snap, *sort);
    fmt::print("{}\n", flags.format == "json" ? FormatTopJson(snap) : FormatTopText(snap, 0));
    return 0;
  }

  RawTerminal term;
  TopSort current = *sort;
  bool tty = isatty(STDOUT_FILENO) != 0;
  while (!Session::StopRequested()) {
    uint64_t next = MonotonicNs() + *interval;
    auto threads = SampleAndTrack(p);
    if (!threads) {
      return Fail(threads.error());
    }
    TopSnapshot snap = Snapshot(p, *threads);
    SortTopCalls(&snap, current);
    if (flags.format == "json") {
      // One snapshot per line (JSON Lines) for scripts.
      fmt::print("{}\n", FormatTopJson(snap));
      (void)fflush(stdout);
      SleepUntil(next);
      continue;
    }
    std::string text = FormatTopText(snap, tty ? 40 : 0);
    // Clear and home, like top(1); plain sequential snapshots when piped.
    fmt::print("{}{}{}\n", tty ? "\x1b[H\x1b[2J" : "", text,
               term.active() ? "keys: a=sort by age  f=by function  g=by goroutine  q=quit" : "");
    (void)fflush(stdout);
    while (!Session::StopRequested()) {
      uint64_t now = MonotonicNs();
      if (now >= next) {
        break;
      }
      pollfd pfd{term.active() ? STDIN_FILENO : -1, POLLIN, 0};
      int ms = static_cast<int>(std::min<uint64_t>((next - now) / 1'000'000 + 1, 50));
      if (poll(&pfd, 1, ms) > 0 && (pfd.revents & POLLIN) != 0) {
        char key = 0;
        if (read(STDIN_FILENO, &key, 1) == 1) {
          if (key == 'q') {
            return 0;
          }
          if (key == 'a' || key == 'f' || key == 'g') {
            current = key == 'a' ? TopSort::kAge : key == 'f' ? TopSort::kFunc : TopSort::kGoid;
            break;  // redraw now
          }
        }
      }
    }
  }
  return 0;
}

}  // namespace

void RegisterTop(CLI::App* app, std::function<int()>* run) {
  auto flags = std::make_shared<TopFlags>();
  CLI::App* sub = app->add_subcommand(
      "top", "Show every thread now inside a cgo call (sampling: no per-call probe)");
  sub->add_option("-p,--pid", flags->pid, "The process to watch")->required();
  sub->add_option("--interval", flags->interval, "Refresh this often (default 1s)");
  sub->add_option("--sort", flags->sort, "age (default), func or goid");
  sub->add_flag("--once", flags->once, "Print one snapshot after one interval and exit");
  sub->add_option("--format", flags->format, "text (default) or json (one snapshot per line)");
  sub->add_flag("-v,--verbose", flags->verbose, "Show libbpf and verifier messages");
  sub->callback([flags, run] { *run = [flags] { return RunTop(*flags); }; });
}

}  // namespace cgotrace::cli
