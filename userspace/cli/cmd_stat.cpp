// cgotrace stat: per-function (or goroutine, or thread) latency summary.
#include <fmt/format.h>

#include "commands.h"
#include "common.h"
#include "stats/aggregator.h"

namespace cgotrace::cli {
namespace {

struct StatFlags {
  TargetFlags targets;
  std::string interval;
  std::string by = "func";
  std::string format = "text";
  bool no_hist = false;
  size_t max_rows = StatAggregator::kDefaultMaxRows;
};

int RunStat(const StatFlags& flags) {
  auto by = ParseGroupBy(flags.by);
  if (!by) {
    return Fail(by.error());
  }
  if (flags.format != "text" && flags.format != "json") {
    return Fail(MakeError("unknown format '{}' (expected text or json)", flags.format));
  }
  auto opts = MakeSessionOptions(flags.targets);
  if (!opts) {
    return Fail(opts.error());
  }
  if (!flags.interval.empty()) {
    auto d = ParseDuration(flags.interval);
    if (!d || *d == 0) {
      return Fail(MakeError("--interval: invalid duration '{}'", flags.interval));
    }
    opts->tick_ns = *d;
  }
  Session::InstallSignalHandlers();
  auto session = Session::Start(*opts);
  if (!session) {
    return Fail(session.error());
  }
  ReportAttached(**session);
  bool json = flags.format == "json";
  StatAggregator agg(*by, flags.max_rows);
  uint64_t window_start = MonotonicNs();
  auto print = [&](uint64_t now) {
    agg.SetLost((*session)->Stats().lost);
    StatSnapshot snap = agg.Snapshot(now - window_start);
    std::string text = json ? FormatStatJson(snap) : FormatStatText(snap, !flags.no_hist);
    fmt::print("{}\n", text);
    (void)fflush(stdout);
  };
  auto total = (*session)->Run([&](const CgoEvent& ev) { agg.Add(ev); },
                               [&](uint64_t now) {
                                 print(now);
                                 agg.Reset();
                                 window_start = now;
                               });
  if (!total) {
    return Fail(total.error());
  }
  print(MonotonicNs());
  ReportTotals(**session, *total);
  return 0;
}

}  // namespace

void RegisterStat(CLI::App* app, std::function<int()>* run) {
  auto flags = std::make_shared<StatFlags>();
  CLI::App* sub = app->add_subcommand("stat", "Summarize cgo call latency per function");
  AddTargetFlags(sub, &flags->targets);
  sub->add_option("--interval", flags->interval, "Print and reset the summary this often");
  sub->add_option("--by", flags->by, "Group by func (default), goid or tid");
  sub->add_option("--format", flags->format, "text (default) or json");
  sub->add_flag("--no-hist", flags->no_hist, "Omit the per-row latency histograms");
  sub->add_option("--max-rows", flags->max_rows,
                  "Rows per table; later keys are summed into one (other) row")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  sub->callback([flags, run] { *run = [flags] { return RunStat(*flags); }; });
  SetCommandSink(sub, &flags->targets.command);
}

}  // namespace cgotrace::cli
