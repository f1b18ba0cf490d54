// Exporter exposition: the kernel's rows (bucketed by the published bounds)
// as metric families, built at scrape time.
#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>

#include "exporter/exporter.h"
#include "exporter/metric_family.h"

#ifndef CGOTRACE_VERSION
#define CGOTRACE_VERSION "unknown"
#endif

namespace cgotrace {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr const char* kOther = "other";

// Bounds are exact integers in `unit`; dividing the integer by the
// scale (rather than multiplying by its inverse) gives the double nearest to
// the true bound, so Prometheus' float comparison against `le` agrees with
// the integer bucketing.
ClientMetric::Histogram ToPrometheus(const Pow2Histogram& h, double units_per_base_unit) {
  ClientMetric::Histogram out;
  uint64_t cumulative = 0;
  for (int k = 0; k < h.buckets(); ++k) {
    cumulative += h.BucketCount(k);
    out.bucket.push_back({cumulative, static_cast<double>(h.UpperBound(k)) / units_per_base_unit});
  }
  cumulative += h.BucketCount(h.buckets());
  out.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  out.sample_count = h.count();
  out.sample_sum = static_cast<double>(h.sum()) / units_per_base_unit;
  return out;
}

}  // namespace

Pow2Histogram::Pow2Histogram(uint64_t base, int buckets)
    : base_(base), counts_(static_cast<size_t>(buckets) + 1, 0) {}

void Pow2Histogram::Add(const std::vector<uint64_t>& counts, uint64_t count, uint64_t sum) {
  for (size_t k = 0; k < counts_.size() && k < counts.size(); ++k) {
    counts_[k] += counts[k];
  }
  count_ += count;
  sum_ = sum > UINT64_MAX - sum_ ? UINT64_MAX : sum_ + sum;
}

ExporterMetrics::ExporterMetrics(size_t max_functions) : max_functions_(max_functions) {}

std::string ExporterMetrics::BinaryLabel(const std::string& comm) {
  constexpr std::string_view kDeleted = " (deleted)";
  if (comm.ends_with(kDeleted)) {
    return comm.substr(0, comm.size() - kDeleted.size());
  }
  return comm;
}

const std::string& ExporterMetrics::Admit(BinarySeries& bin, const std::string& func) const {
  if (!bin.admitted.contains(func)) {
    if (bin.admitted.size() >= max_functions_) {
      static const std::string other = kOther;
      return other;
    }
    bin.admitted.insert(func);
  }
  return func;
}

void ExporterMetrics::SetKernelRows(const std::vector<ExportRow>& rows) {
  std::lock_guard lock(mu_);
  // The rows are cumulative since the start (released binaries included):
  // rebuilt from scratch, the series only grow.
  for (auto& [label, bin] : binaries_) {
    bin.functions.clear();
    bin.stack = Pow2Histogram(kStackBaseBytes, kStackBuckets);
  }
  for (const ExportRow& row : rows) {
    BinarySeries& bin = binaries_[BinaryLabel(row.comm)];
    if (row.kind == ExportRow::Kind::kStackDepth) {
      bin.stack.Add(row.buckets, row.count, row.sum);
      continue;
    }
    FunctionSeries& fn = bin.functions[Admit(bin, row.func)];
    if (row.kind == ExportRow::Kind::kCallback) {
      fn.callbacks += row.count;
    } else if (row.kind == ExportRow::Kind::kReentry) {
      fn.reentry.Add(row.buckets, row.count, row.sum);
    } else {
      fn.has_calls = true;
      fn.duration.Add(row.buckets, row.count, row.sum);
    }
  }
}

std::vector<MetricFamily> ExporterMetrics::Collect(const ExporterSelfStats& self) const {
  MetricFamily duration =
      Family("cgotrace_cgo_call_duration_seconds",
             "Duration of cgo calls (time in C, callbacks included; with --breakdown also the "
             "re-entry into Go)",
             MetricType::Histogram);
  MetricFamily reentry = Family(
      "cgotrace_cgo_reentry_wait_seconds",
      "Time cgo calls spent re-entering Go after C returned (runtime.exitsyscall, waiting for a "
      "P included); exporter --breakdown only",
      MetricType::Histogram);
  MetricFamily callbacks =
      Family("cgotrace_cgo_callbacks_total", "C-to-Go callbacks completed, by exported Go function",
             MetricType::Counter);
  MetricFamily stack =
      Family("cgotrace_goroutine_stack_depth_bytes",
             "Goroutine stack in use at each cgo call (g.stack.hi - SP)", MetricType::Histogram);
  MetricFamily in_cgo = Family("cgotrace_threads_in_cgo", "Calls currently inside runtime.cgocall",
                               MetricType::Gauge);
  {
    std::lock_guard lock(mu_);
    for (const auto& [binary, series] : binaries_) {
      for (const auto& [func, fn] : series.functions) {
        if (fn.has_calls) {
          ClientMetric m = WithLabels({{"binary", binary}, {"function", func}});
          m.histogram = ToPrometheus(fn.duration, 1e9);
          duration.metric.push_back(std::move(m));
        }
        if (fn.reentry.count() != 0) {
          ClientMetric m = WithLabels({{"binary", binary}, {"function", func}});
          m.histogram = ToPrometheus(fn.reentry, 1e9);
          reentry.metric.push_back(std::move(m));
        }
        if (fn.callbacks != 0) {
          callbacks.metric.push_back(Scalar(static_cast<double>(fn.callbacks), MetricType::Counter,
                                            {{"binary", binary}, {"function", func}}));
        }
      }
      if (series.stack.count() != 0) {
        ClientMetric m = WithLabels({{"binary", binary}});
        m.histogram = ToPrometheus(series.stack, 1);
        stack.metric.push_back(std::move(m));
      }
    }
  }
  // Different executables can share a base name; their gauges add up. A
  // binary seen before whose processes are all gone (the tracer released
  // it, and its count with it) shows 0, not a series that vanishes at its
  // last value.
  std::map<std::string, int64_t> threads;
  {
    std::lock_guard lock(mu_);
    for (const auto& [binary, series] : binaries_) {
      threads[binary] = 0;
    }
  }
  for (const BinaryStatus& b : self.binaries) {
    threads[BinaryLabel(b.comm)] += b.threads_in_cgo;
  }
  for (const auto& [binary, n] : threads) {
    in_cgo.metric.push_back(
        Scalar(static_cast<double>(n), MetricType::Gauge, {{"binary", binary}}));
  }

  std::vector<MetricFamily> out;
  for (MetricFamily* f : {&duration, &reentry, &callbacks, &stack, &in_cgo}) {
    if (!f->metric.empty()) {
      out.push_back(std::move(*f));
    }
  }
  auto scalar = [&](const char* name, const char* help, MetricType type, double value) {
    MetricFamily f = Family(name, help, type);
    f.metric.push_back(Scalar(value, type));
    out.push_back(std::move(f));
  };
  scalar("cgotrace_processes_traced", "Processes currently traced", MetricType::Gauge,
         static_cast<double>(self.processes_traced));
  scalar("cgotrace_probes_attached", "Uprobes currently attached", MetricType::Gauge,
         static_cast<double>(self.probes_attached));
  // One metric per run counter, from the list in cgotrace/counters.h.
#define CGOTRACE_METRIC(name, text, metric, type, help) \
  scalar(metric, help, MetricType::type, static_cast<double>(self.name));
  CGOTRACE_RUN_COUNTERS(CGOTRACE_METRIC)
#undef CGOTRACE_METRIC
  // Like lost events, calls cut off before their return are counted, never
  // silent: they are missing from the duration histograms.
  MetricFamily unreturned =
      Family("cgotrace_calls_unreturned_total",
             "cgo calls that never returned: their thread exited in C (exit), a Go panic unwound "
             "through C (panic), their in-flight frame was overwritten (evicted)",
             MetricType::Counter);
  for (auto [cause, n] :
       {std::pair{"exit", self.unreturned_exit}, std::pair{"panic", self.unreturned_panic},
        std::pair{"evicted", self.unreturned_evicted}}) {
    unreturned.metric.push_back(
        Scalar(static_cast<double>(n), MetricType::Counter, {{"cause", cause}}));
  }
  out.push_back(std::move(unreturned));
  scalar("cgotrace_callbacks_unreturned_total",
         "C-to-Go callbacks that never returned (process exit, panic, eviction)",
         MetricType::Counter, static_cast<double>(self.callbacks_unreturned));
  scalar("cgotrace_ringbuf_events_total",
         "Per-call events the BPF programs wrote to the ring buffer (only while a "
         "/debug/pprof/cgo window is open, or with --breakdown)",
         MetricType::Counter, static_cast<double>(self.events));
  scalar("cgotrace_calls_counted_in_kernel_total",
         "cgo calls and callbacks counted in the kernel's aggregation map", MetricType::Counter,
         static_cast<double>(self.aggregated));
  scalar("cgotrace_calls_not_counted_total",
         "cgo calls and callbacks of a new function not counted because the kernel's "
         "aggregation map was full: histograms undercount when this grows",
         MetricType::Counter, static_cast<double>(self.agg_full));
  scalar("cgotrace_bpf_program_run_seconds_total",
         "CPU time spent in cgotrace's BPF programs (needs sysctl kernel.bpf_stats_enabled=1)",
         MetricType::Counter, static_cast<double>(self.bpf_run_time_ns) / 1e9);
  scalar("cgotrace_bpf_program_runs_total",
         "Runs of cgotrace's BPF programs (needs sysctl kernel.bpf_stats_enabled=1)",
         MetricType::Counter, static_cast<double>(self.bpf_run_count));
  MetricFamily info =
      Family("cgotrace_build_info", "cgotrace build information; always 1", MetricType::Gauge);
  info.metric.push_back(Scalar(1, MetricType::Gauge, {{"version", CGOTRACE_VERSION}}));
  out.push_back(std::move(info));
  return out;
}

std::string RenderExpositionText(const std::vector<MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace cgotrace
