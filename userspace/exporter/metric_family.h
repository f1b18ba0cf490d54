// Building blocks of the exporter's Prometheus families, shared by the exact
// metrics (exporter_metrics.cpp) and the sampled gauges of --sample
// (sample_gauges.cpp): a family with its name, help and type, and one series
// with its labels and value. Plain values; no state, thread-safe.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <utility>
#include <vector>

namespace cgotrace {

inline prometheus::MetricFamily Family(const char* name, const char* help,
                                       prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

inline prometheus::ClientMetric WithLabels(std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  return m;
}

// A counter or gauge series (`type` says which field holds `value`).
inline prometheus::ClientMetric Scalar(double value, prometheus::MetricType type,
                                       std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric m = WithLabels(std::move(labels));
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

}  // namespace cgotrace
