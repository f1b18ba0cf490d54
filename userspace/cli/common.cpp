#include "common.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace cgotrace::cli {

void AddTargetFlags(CLI::App* app, TargetFlags* flags) {
  app->add_option("-p,--pid", flags->pids, "Trace this running process (repeatable)");
  app->add_option("--binary", flags->binaries,
                  "Trace every process running this executable, including later ones");
  app->add_option("--duration", flags->duration, "Stop after this long (e.g. 10s, 500ms)");
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
    auto d = ParseDuration(flags.duration);
    if (!d) {
      return MakeError("--duration: {}", d.error().message);
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

void ReportTotals(const Session& session, uint64_t delivered) {
  TracerStats st = session.Stats();
  fmt::print(stderr, "cgotrace: {} events, {} lost", delivered, st.lost);
  if (st.no_entry != 0 || st.read_fail != 0) {
    fmt::print(stderr, " ({} returns without entry, {} unreadable goroutines)", st.no_entry,
               st.read_fail);
  }
  fmt::print(stderr, "\n");
  // Only counted while the kernel.bpf_stats_enabled sysctl is 1.
  ProgramStats ps = session.ProgramRunStats();
  if (ps.run_count != 0) {
    fmt::print(stderr, "cgotrace: BPF programs ran {} times, {:.0f} ns per run\n", ps.run_count,
               static_cast<double>(ps.run_time_ns) / static_cast<double>(ps.run_count));
  }
}

}  // namespace cgotrace::cli
