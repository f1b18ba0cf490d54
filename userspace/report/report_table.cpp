// ReportTable: per-key duration statistics of a recording.
#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <unordered_map>

#include "report/report.h"
#include "stats/histogram.h"
#include "util/choice.h"

namespace cgotrace {
namespace {

bool IsNumeric(ReportKey k) {
  return k == ReportKey::kGoid || k == ReportKey::kTid || k == ReportKey::kPid;
}

// A row's durations. The buckets are LogLinearHistogram's, kept sparse:
// a full histogram is 30 KiB, and --sort goid can make a row per goroutine.
struct Acc {
  uint64_t count = 0;
  uint64_t total = 0;
  uint64_t min = UINT64_MAX;
  uint64_t max = 0;
  std::unordered_map<uint32_t, uint64_t> buckets;
  uint64_t c_count = 0, c_total = 0;
  uint64_t sched_count = 0, sched_total = 0, sched_max = 0;

  void Add(const RecordedEvent& e) {
    Add(e.duration_ns);
    if (e.c_ns != 0) {
      ++c_count;
      c_total += e.c_ns;
    }
    if (e.sched_ns != 0) {
      ++sched_count;
      sched_total += e.sched_ns;
      sched_max = std::max(sched_max, e.sched_ns);
    }
  }
  void Add(uint64_t ns) {
    ++count;
    total += ns;
    min = std::min(min, ns);
    max = std::max(max, ns);
    ++buckets[static_cast<uint32_t>(LogLinearHistogram::BucketOf(ns))];
  }
  // The same histogram as if every value had been recorded: same buckets,
  // same min and max, so the same quantiles.
  LogLinearHistogram Materialize() const {
    LogLinearHistogram h;
    std::unordered_map<uint32_t, uint64_t> rest = buckets;
    h.Record(min);
    --rest[static_cast<uint32_t>(LogLinearHistogram::BucketOf(min))];
    if (count > 1) {
      h.Record(max);
      --rest[static_cast<uint32_t>(LogLinearHistogram::BucketOf(max))];
    }
    for (const auto& [bucket, n] : rest) {
      const uint64_t v = LogLinearHistogram::BucketLower(bucket);
      for (uint64_t i = 0; i < n; ++i) {
        h.Record(v);
      }
    }
    return h;
  }
};

struct KeyHash {
  size_t operator()(const std::vector<uint64_t>& k) const {
    size_t h = 1469598103934665603ull;
    for (uint64_t v : k) {
      h = (h ^ v) * 1099511628211ull;
    }
    return h;
  }
};

}  // namespace

namespace {
constexpr std::array<Choice<ReportKey>, 6> kReportKeyChoices{{{"func", ReportKey::kFunc},
                                                              {"goid", ReportKey::kGoid},
                                                              {"tid", ReportKey::kTid},
                                                              {"pid", ReportKey::kPid},
                                                              {"comm", ReportKey::kComm},
                                                              {"binary", ReportKey::kBinary}}};
}  // namespace

Result<std::vector<ReportKey>> ParseReportSort(const std::string& text) {
  std::vector<ReportKey> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) {
      comma = text.size();
    }
    const std::string word = text.substr(pos, comma - pos);
    auto key = ParseChoice<ReportKey>("--sort", word, kReportKeyChoices);
    if (!key) {
      return key.error();
    }
    if (std::find(out.begin(), out.end(), *key) != out.end()) {
      return MakeError("--sort: key '{}' given twice", word);
    }
    out.push_back(*key);
    pos = comma + 1;
  }
  return out;
}

const char* ReportKeyName(ReportKey key) {
  return ChoiceName<ReportKey>(kReportKeyChoices, key).data();
}

struct ReportTable::Impl {
  const RecordingReader& reader;
  TableOptions options;
  // Key values: numbers for numeric keys, string ids for func, and for comm
  // and binary the first process index with that name (so processes of one
  // binary share a row).
  std::unordered_map<std::vector<uint64_t>, Acc, KeyHash> calls, callbacks;
  std::vector<uint64_t> comm_of, binary_of;  // per process index
  uint64_t events = 0;
  std::vector<uint64_t> key;  // reused

  uint64_t Canonical(std::vector<uint64_t>* cache, uint32_t process, bool binary) {
    while (cache->size() <= process) {
      const size_t i = cache->size();
      const RecordedProcess& p = reader.process(static_cast<uint32_t>(i));
      uint64_t canon = i;
      for (size_t j = 0; j < i; ++j) {
        const RecordedProcess& q = reader.process(static_cast<uint32_t>(j));
        if (binary ? q.binary_path == p.binary_path : q.comm == p.comm) {
          canon = j;
          break;
        }
      }
      cache->push_back(canon);
    }
    return (*cache)[process];
  }

  std::string Text(ReportKey k, uint64_t v) const {
    switch (k) {
      case ReportKey::kFunc:
        return reader.str(static_cast<uint32_t>(v));
      case ReportKey::kComm:
        return reader.process(static_cast<uint32_t>(v)).comm;
      case ReportKey::kBinary:
        return reader.process(static_cast<uint32_t>(v)).binary_path;
      default:
        return std::to_string(v);
    }
  }
};

ReportTable::ReportTable(const RecordingReader& reader, TableOptions options)
    : impl_(new Impl{reader, std::move(options), {}, {}, {}, {}, 0, {}}) {}
ReportTable::~ReportTable() = default;

void ReportTable::Add(const RecordedEvent& e) {
  Impl& d = *impl_;
  d.key.clear();
  for (ReportKey k : d.options.sort) {
    switch (k) {
      case ReportKey::kFunc:
        d.key.push_back(e.func);
        break;
      case ReportKey::kGoid:
        d.key.push_back(e.goid);
        break;
      case ReportKey::kTid:
        d.key.push_back(e.tid);
        break;
      case ReportKey::kPid:
        d.key.push_back(d.reader.process(e.process).pid);
        break;
      case ReportKey::kComm:
        d.key.push_back(d.Canonical(&d.comm_of, e.process, false));
        break;
      case ReportKey::kBinary:
        d.key.push_back(d.Canonical(&d.binary_of, e.process, true));
        break;
    }
  }
  (e.kind == EventKind::kCall ? d.calls : d.callbacks)[d.key].Add(e);
  ++d.events;
}

TableReport ReportTable::Finish() const {
  const Impl& d = *impl_;
  TableReport out;
  out.sort = d.options.sort;
  out.percent_limit = d.options.percent_limit;
  out.events = d.events;
  for (const auto& [k, acc] : d.calls) {
    out.total_call_ns += acc.total;
    out.calls += acc.count;
  }
  for (const auto& [k, acc] : d.callbacks) {
    out.callbacks += acc.count;
  }
  auto build = [&](const auto& groups, std::vector<TableRow>* rows) {
    for (const auto& [key, acc] : groups) {
      const double percent = out.total_call_ns == 0 ? 0.0
                                                    : 100.0 * static_cast<double>(acc.total) /
                                                          static_cast<double>(out.total_call_ns);
      if (percent < d.options.percent_limit) {
        ++out.hidden_rows;
        continue;
      }
      TableRow& row = rows->emplace_back();
      for (size_t i = 0; i < key.size(); ++i) {
        const ReportKey k = d.options.sort[i];
        row.key.push_back(d.Text(k, key[i]));
        row.key_numbers.push_back(IsNumeric(k) ? key[i] : 0);
      }
      const LogLinearHistogram h = acc.Materialize();
      row.count = acc.count;
      row.total_ns = acc.total;
      row.percent = percent;
      row.mean_ns = static_cast<double>(acc.total) / static_cast<double>(acc.count);
      row.p50_ns = h.Quantile(0.50);
      row.p99_ns = h.Quantile(0.99);
      row.min_ns = acc.min;
      row.max_ns = acc.max;
      row.c_count = acc.c_count;
      row.c_total_ns = acc.c_total;
      row.sched_count = acc.sched_count;
      row.sched_total_ns = acc.sched_total;
      row.sched_max_ns = acc.sched_max;
      if (d.options.histograms) {
        row.histogram = RenderLog2Ascii(h, "usecs", 1000);
        for (size_t b = 0; b < LogLinearHistogram::kBuckets; ++b) {
          if (h.BucketCount(b) != 0) {
            row.buckets.push_back({LogLinearHistogram::BucketLower(b),
                                   LogLinearHistogram::BucketUpper(b), h.BucketCount(b)});
          }
        }
      }
    }
    std::sort(rows->begin(), rows->end(), [&](const TableRow& a, const TableRow& b) {
      if (a.total_ns != b.total_ns) {
        return a.total_ns > b.total_ns;
      }
      for (size_t i = 0; i < a.key.size(); ++i) {
        if (IsNumeric(d.options.sort[i]) && a.key_numbers[i] != b.key_numbers[i]) {
          return a.key_numbers[i] < b.key_numbers[i];
        }
        if (a.key[i] != b.key[i]) {
          return a.key[i] < b.key[i];
        }
      }
      return false;
    });
  };
  build(d.calls, &out.calls_rows);
  build(d.callbacks, &out.callbacks_rows);
  return out;
}

}  // namespace cgotrace
