// cgotrace exporter: serve cgo call metrics to Prometheus until stopped.
#include <fmt/format.h>

#include "commands.h"
#include "common.h"
#include "exporter/exporter.h"
#include "util/duration.h"

namespace cgotrace::cli {
namespace {

struct ExporterFlags {
  std::string listen = fmt::format(":{}", kExporterDefaultPort);
  std::vector<int> pids;
  std::vector<std::string> binaries;
  bool all_go = false;
  std::string rescan = "2s";
  int max_functions = 200;
  bool keep_caps = false;
  bool call_stacks = false;
  bool breakdown = false;
  bool verbose = false;
  bool sample = false;
  bool exact = false;
  int frequency = kExporterSampleHz;
  bool frequency_given = false;
};

// Sampling costs the tracer per thread per round; a gauge scraped every few
// seconds gains nothing from more.
constexpr int kMaxExporterHz = 1000;

int RunExporter(const ExporterFlags& flags) {
  ExporterOptions opts;
  auto listen = ParseListenAddress(flags.listen);
  if (!listen) {
    return Usage(listen.error());
  }
  opts.listen = *listen;
  for (int pid : flags.pids) {
    if (pid <= 0) {
      return Usage(MakeError("invalid PID {}", pid));
    }
    opts.targets.pids.push_back(pid);
  }
  opts.targets.binaries = flags.binaries;
  opts.targets.all_go = flags.all_go;
  if (opts.targets.pids.empty() && opts.targets.binaries.empty() && !opts.targets.all_go) {
    return Usage(MakeError("no target: give -p PID, --binary PATH or --all-go (see --help)"));
  }
  auto rescan = ParseDuration("--rescan", flags.rescan, kRescanRange);
  if (!rescan) {
    return Usage(rescan.error());
  }
  opts.rescan_ns = *rescan;
  if (flags.max_functions < 1) {
    return Usage(MakeError("--max-functions must be at least 1"));
  }
  opts.max_functions = static_cast<size_t>(flags.max_functions);
  opts.drop_capabilities = !flags.keep_caps;
  opts.tracer.verbose = flags.verbose;
  opts.tracer.call_stacks = flags.call_stacks;
  opts.tracer.breakdown = flags.breakdown;
  opts.tool_version = CGOTRACE_VERSION;
  if (!flags.sample && (flags.exact || flags.frequency_given)) {
    return Usage(MakeError("{} needs --sample", flags.exact ? "--exact" : "-F"));
  }
  const int hz = flags.frequency;
  if (hz < 1 || hz > kMaxExporterHz) {
    return Usage(MakeError("-F: frequency must be 1-{} Hz, not {}", kMaxExporterHz, hz));
  }
  opts.sample = flags.sample;
  opts.exact = !flags.sample || flags.exact;
  opts.sample_hz = hz;

  // A scraper hanging up must not kill us either: SIGPIPE is ignored too.
  Session::InstallSignalHandlers();
  auto exporter = Exporter::Start(opts);
  if (!exporter) {
    return Fail(exporter.error());
  }
  auto run = (*exporter)->Run();
  if (!run) {
    return Fail(run.error());
  }
  return 0;
}

}  // namespace

void RegisterExporter(CLI::App* app, std::function<int()>* run) {
  auto flags = std::make_shared<ExporterFlags>();
  CLI::App* sub = app->add_subcommand("exporter", "Serve cgo call metrics to Prometheus");
  sub->add_option(
      "--listen", flags->listen,
      fmt::format("HOST:PORT to serve /metrics on (default :{})", kExporterDefaultPort));
  sub->add_option("-p,--pid", flags->pids, "Trace this process until it exits (repeatable)");
  sub->add_option("--binary", flags->binaries,
                  "Trace every process running this executable, as they come and go");
  sub->add_flag("--all-go", flags->all_go, "Trace every Go process with cgo, as they come and go");
  sub->add_option("--rescan", flags->rescan,
                  "How often to look for new and exited processes (default 2s, 100ms to 1h)");
  sub->add_option("--max-functions", flags->max_functions,
                  "Distinct function labels per binary; more count as function=\"other\" "
                  "(default 200)");
  sub->add_flag("--keep-caps", flags->keep_caps,
                "Do not drop capabilities after attaching (debugging only)");
  AddBreakdownFlag(sub, &flags->breakdown);
  sub->add_flag("--call-stacks", flags->call_stacks,
                "Capture Go call stacks, so /debug/pprof/cgo profiles show the Go callers");
  sub->add_flag("--sample", flags->sample,
                "In-C gauges by function from sampling every thread, with no per-call probe "
                "(alone: nothing is probed; add --exact for the call metrics too)");
  sub->add_flag("--exact", flags->exact, "With --sample: also attach the exact per-call probes");
  CLI::Option* frequency =
      sub->add_option("-F,--frequency", flags->frequency,
                      fmt::format("With --sample: rounds per second (default {}, 1-{})",
                                  kExporterSampleHz, kMaxExporterHz));
  sub->add_flag("-v,--verbose", flags->verbose, "Show libbpf and verifier messages");
  sub->footer("Metrics and deployment: docs/exporter.md");
  sub->callback([flags, run, frequency] {
    flags->frequency_given = frequency->count() > 0;
    *run = [flags] { return RunExporter(*flags); };
  });
}

}  // namespace cgotrace::cli
