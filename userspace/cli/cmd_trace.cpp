// cgotrace trace: live events, one line per completed cgo call.
#include "commands.h"
#include "common.h"

#include "trace/sinks.h"

namespace cgotrace::cli {
namespace {

struct TraceFlags {
  TargetFlags targets;
  std::string format = "text";
  std::string output;
  bool empty_probes = false;
  bool entry_ret_sites = false;
  bool call_stacks = false;
  bool breakdown = false;
};

int RunTrace(const TraceFlags& flags) {
  auto format = ParseEventFormat(flags.format);
  if (!format) {
    return Usage(format.error());
  }
  auto opts = MakeSessionOptions(flags.targets);
  if (!opts) {
    return Usage(opts.error());
  }
  opts->tracer.empty_probes = flags.empty_probes;
  opts->tracer.entry_ret_sites = flags.entry_ret_sites;
  opts->tracer.call_stacks = flags.call_stacks;
  opts->tracer.breakdown = flags.breakdown;
  auto out = Output::Open(flags.output);
  if (!out) {
    return Fail(out.error());
  }
  Session::InstallSignalHandlers();
  auto session = Session::Start(*opts);
  if (!session) {
    return Fail(session.error());
  }
  ReportAttached(**session);
  std::unique_ptr<EventSink> sink = MakeEventSink(*format, out->get());
  Result<void> write_status = Ok();
  auto total = (*session)->Run([&](const CgoEvent& ev) { sink->OnEvent(ev); }, [](uint64_t) {});
  write_status = sink->Flush();
  if (write_status) {
    write_status = out->Close();
  }
  if (!total) {
    return Fail(total.error());
  }
  ReportTotals(**session, *total);
  if (!write_status) {
    return Fail(write_status.error());
  }
  return SuccessStatus(**session);
}

}  // namespace

void RegisterTrace(CLI::App* app, std::function<int()>* run) {
  auto flags = std::make_shared<TraceFlags>();
  CLI::App* sub =
      app->add_subcommand("trace", "Print every cgo call of the targets as it completes");
  AddTargetFlags(sub, &flags->targets);
  sub->add_option("--format", flags->format, "text (default) or jsonl");
  sub->add_option("-o,--output", flags->output, "Write events to this file instead of stdout");
  sub->add_flag("--call-stacks", flags->call_stacks,
                "Add each call's Go call stack (innermost first) to jsonl events");
  AddBreakdownFlag(sub, &flags->breakdown);
  sub->add_flag("--empty-probes", flags->empty_probes,
                "Benchmark only: attach do-nothing probes at the same sites (kernel floor)");
  sub->add_flag("--entry-ret-sites", flags->entry_ret_sites,
                "Benchmark only: probe function entries and every RET instead of the planned "
                "sites (the naive floor with --empty-probes)");
  sub->callback([flags, run] { *run = [flags] { return RunTrace(*flags); }; });
  SetCommandSink(sub, &flags->targets.command);
}

}  // namespace cgotrace::cli
