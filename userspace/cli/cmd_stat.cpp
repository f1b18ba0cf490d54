// cgotrace stat: per-function (or goroutine, or thread) latency summary.
#include <fmt/format.h>

#include <array>

#include "commands.h"
#include "common.h"
#include "stats/aggregator.h"
#include "util/choice.h"
#include "util/clock.h"
#include "util/duration.h"

namespace cgotrace::cli {
namespace {

enum class StatFormat { kText, kJson };
constexpr std::array<Choice<StatFormat>, 2> kStatFormats{
    {{"text", StatFormat::kText}, {"json", StatFormat::kJson}}};

struct StatFlags {
  TargetFlags targets;
  std::string interval;
  std::string by = "func";
  std::string format = "text";
  bool no_hist = false;
  bool breakdown = false;
  size_t max_rows = StatAggregator::kDefaultMaxRows;
};

int RunStat(const StatFlags& flags) {
  auto by = ParseGroupBy(flags.by);
  if (!by) {
    return Usage(by.error());
  }
  auto format = ParseChoice<StatFormat>("--format", flags.format, kStatFormats);
  if (!format) {
    return Usage(format.error());
  }
  auto opts = MakeSessionOptions(flags.targets);
  if (!opts) {
    return Usage(opts.error());
  }
  if (!flags.interval.empty()) {
    auto d = ParseDuration("--interval", flags.interval, kIntervalRange);
    if (!d) {
      return Usage(d.error());
    }
    opts->tick_ns = *d;
  }
  // A whole-run summary by function is counted in the kernel: no event per
  // call crosses the ring buffer and starts read no goroutine memory.
  // Goroutine and thread rows need each call's goid / tid, and --interval
  // needs each window's minimum and maximum: those take events
  // (docs/performance.md, "In-kernel aggregation"). The kernel's rows carry
  // --breakdown's split too.
  const bool in_kernel = *by == GroupBy::kFunc && flags.interval.empty();
  if (in_kernel) {
    opts->tracer.events = false;
    opts->tracer.aggregate = true;
  }
  opts->tracer.breakdown = flags.breakdown;
  Session::InstallSignalHandlers();
  auto session = Session::Start(*opts);
  if (!session) {
    return Fail(session.error());
  }
  ReportAttached(**session);
  const bool json = *format == StatFormat::kJson;
  StatAggregator agg(*by, flags.max_rows);
  uint64_t window_start = MonotonicNs();
  auto print = [&](uint64_t now) {
    TracerStats st = (*session)->Stats();
    agg.SetLost(st.lost + st.agg_full);
    agg.SetUnreturned(st.unreturned);
    if (in_kernel) {
      for (const AggregateRow& row : (*session)->Aggregates()) {
        agg.AddAggregate(row);
      }
    }
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
  return SuccessStatus(**session);
}

}  // namespace

void RegisterStat(CLI::App* app, std::function<int()>* run) {
  auto flags = std::make_shared<StatFlags>();
  CLI::App* sub = app->add_subcommand("stat", "Summarize cgo call latency per function");
  AddTargetFlags(sub, &flags->targets);
  sub->add_option("--interval", flags->interval,
                  "Print and reset the summary this often (100ms to 24h)");
  sub->add_option("--by", flags->by, "Group by func (default), goid or tid");
  sub->add_option("--format", flags->format, "text (default) or json");
  AddBreakdownFlag(sub, &flags->breakdown);
  sub->add_flag("--no-hist", flags->no_hist, "Omit the per-row latency histograms");
  sub->add_option("--max-rows", flags->max_rows,
                  "Rows per table; later keys are summed into one (other) row")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  sub->callback([flags, run] { *run = [flags] { return RunStat(*flags); }; });
  SetCommandSink(sub, &flags->targets.command);
}

}  // namespace cgotrace::cli
