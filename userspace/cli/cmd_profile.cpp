// cgotrace profile: where the target's threads spend wall-clock time in C,
// by sampling every thread at F Hz (no per-call probe).
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgotrace/session.h"
#include "commands.h"
#include "common.h"
#include "process/launch.h"
#include "process/process.h"
#include "report/flamegraph.h"
#include "sampleview/sample_profile.h"
#include "sampling.h"
#include "util/clock.h"
#include "util/duration.h"

namespace cgotrace::cli {
namespace {

struct ProfileFlags {
  TargetFlags targets;
  uint32_t frequency = 99;
  std::string format = "text";
  std::string output;
};

// The most a sampler is asked to do: each round reads every thread.
constexpr uint32_t kMaxFrequency = 1000;

Result<std::vector<pid_t>> TargetPids(const ProfileFlags& flags) {
  std::vector<pid_t> pids;
  for (int pid : flags.targets.pids) {
    if (pid <= 0) {
      return MakeError("invalid PID {}", pid);
    }
    pids.push_back(pid);
  }
  for (const std::string& path : flags.targets.binaries) {
    auto id = FileIdOf(path);
    if (!id) {
      return id.error();
    }
    // The one /proc walker (util/proc_fs.h); zombies are not running.
    std::vector<pid_t> found;
    for (const auto& [pid, exe] : RealProcFs().Executables()) {
      if (exe == *id && RealProcFs().Alive(pid)) {
        found.push_back(pid);
      }
    }
    if (found.empty()) {
      return MakeError("no running process of {} (profile samples processes running now)", path);
    }
    pids.insert(pids.end(), found.begin(), found.end());
  }
  return pids;
}

int RunProfile(const ProfileFlags& flags) {
  const std::string& fmt_name = flags.format;
  if (fmt_name != "text" && fmt_name != "json" && fmt_name != "folded" &&
      fmt_name != "flamegraph" && fmt_name != "pprof") {
    return Fail(MakeError("unknown format '{}' (expected text, json, folded, flamegraph or pprof)",
                          fmt_name));
  }
  if (fmt_name == "pprof" && flags.output.empty() && isatty(STDOUT_FILENO)) {
    return Fail(MakeError("--format pprof writes binary data: give -o FILE"));
  }
  if (flags.frequency == 0 || flags.frequency > kMaxFrequency) {
    return Fail(MakeError("-F: frequency must be 1-{} Hz, not {}", kMaxFrequency, flags.frequency));
  }
  if (flags.targets.pids.empty() && flags.targets.binaries.empty() &&
      flags.targets.command.empty()) {
    return Fail(MakeError("no target: give -p PID, --binary PATH or -- COMMAND (see --help)"));
  }
  uint64_t duration_ns = 0;
  if (!flags.targets.duration.empty()) {
    auto d = ParseDuration("--duration", flags.targets.duration, kRunDurationRange);
    if (!d) {
      return Usage(d.error());
    }
    duration_ns = *d;
  }
  auto pids = TargetPids(flags);
  if (!pids) {
    return Fail(pids.error());
  }
  auto out = Output::Open(flags.output);
  if (!out) {
    return Fail(out.error());
  }
  Session::InstallSignalHandlers();
  pid_t child = -1;
  if (!flags.targets.command.empty()) {
    auto launched = LaunchCommand(flags.targets.command);
    if (!launched) {
      return Fail(launched.error());
    }
    child = *launched;
    pids->push_back(child);
  }
  std::vector<std::unique_ptr<SampledProcess>> procs;
  for (pid_t pid : *pids) {
    auto p = OpenSampledProcess(pid, flags.targets.verbose);
    if (!p) {
      if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, nullptr, 0);
      }
      return Fail(p.error());
    }
    procs.push_back(std::move(*p));
  }
  std::string described;
  for (const auto& p : procs) {
    described += fmt::format("{}PID {} ({})", described.empty() ? "" : ", ", p->pid, p->comm);
  }
  fmt::print(stderr, "cgotrace: sampling {} at {} Hz; Ctrl-C to stop\n", described,
             flags.frequency);

  SampleProfile profile(flags.frequency);
  const uint64_t period = 1'000'000'000ULL / flags.frequency;
  const uint64_t start = MonotonicNs();
  uint64_t next = start;
  int child_status = -1;
  // An exited process keeps its entry (its FrameNamer owns the names the
  // profile refers to); only its sampler goes.
  size_t live = procs.size();
  while (!Session::StopRequested() && live > 0) {
    uint64_t now = MonotonicNs();
    if (duration_ns != 0 && now - start >= duration_ns) {
      break;
    }
    for (auto& p : procs) {
      if (!p->sampler) {
        continue;
      }
      auto threads = p->sampler->Sample();
      if (!threads) {
        return Fail(threads.error());
      }
      if (threads->empty()) {  // exited
        p->sampler.reset();
        --live;
        continue;
      }
      profile.AddRound(*threads, *p->namer, fmt::format("{}/{}", p->comm, p->pid));
    }
    profile.CountRound();
    if (child > 0 && child_status < 0 && ReapIfExited(child, &child_status)) {
      break;
    }
    // Rounds keep their schedule; one that overran skips ahead instead of
    // bursting to catch up.
    next += period;
    now = MonotonicNs();
    if (next < now) {
      next = now;
    }
    SleepUntil(next);
  }
  profile.SetDuration(MonotonicNs() - start);
  for (auto& p : procs) {
    p->sampler.reset();  // detach before writing
  }
  if (child > 0 && child_status < 0) {
    kill(child, SIGTERM);
    waitpid(child, nullptr, 0);
  }

  std::string text;
  if (fmt_name == "text") {
    text = FormatSampleProfileText(profile);
  } else if (fmt_name == "json") {
    text = FormatSampleProfileJson(profile) + "\n";
  } else if (fmt_name == "folded") {
    text = FormatFolded(profile.ToProfile());
  } else if (fmt_name == "pprof") {
    auto pb = SampleProfilePprof(profile);
    if (!pb) {
      return Fail(pb.error());
    }
    text = std::move(*pb);
  } else {
    FlameGraphOptions opts;
    opts.title = "cgotrace profile: wall-clock time in C by Go call stack";
    opts.subtitle =
        fmt::format("{} Hz, {} rounds, {}", flags.frequency, profile.rounds(), described);
    text = RenderFlameGraph(profile.ToProfile(), opts);
  }
  if (fwrite(text.data(), 1, text.size(), out->get()) != text.size()) {
    return Fail(MakeError("writing output failed"));
  }
  if (auto closed = out->Close(); !closed) {
    return Fail(closed.error());
  }
  fmt::print(stderr, "cgotrace: {} rounds, {} thread samples, {} in C\n", profile.rounds(),
             profile.thread_samples(), profile.samples_in_c());
  return 0;
}

}  // namespace

void RegisterProfile(CLI::App* app, std::function<int()>* run) {
  auto flags = std::make_shared<ProfileFlags>();
  CLI::App* sub = app->add_subcommand(
      "profile", "Sample every thread at F Hz: wall-clock time in C by function and stack");
  AddTargetFlags(sub, &flags->targets);
  sub->add_option("-F,--frequency", flags->frequency, "Samples per second (default 99)");
  sub->add_option("--format", flags->format,
                  "text (default), json, folded, flamegraph or pprof (with -o)");
  sub->add_option("-o,--output", flags->output, "Write to this file instead of stdout");
  sub->callback([flags, run] { *run = [flags] { return RunProfile(*flags); }; });
  SetCommandSink(sub, &flags->targets.command);
}

}  // namespace cgotrace::cli
