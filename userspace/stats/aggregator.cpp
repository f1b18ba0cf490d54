#include "stats/aggregator.h"

#include <array>

#include "util/choice.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <string>
#include <vector>

#include "util/format.h"

namespace cgotrace {
namespace {

constexpr int kDurationColumns = 6;  // TOTAL MEAN P50 P90 P99 MAX

// Numeric keys (goid, tid) compare as numbers so 9 sorts before 10; the
// decimal text has no leading zeros, so length-then-text is numeric order.
bool KeyLess(GroupBy by, const std::string& a, const std::string& b) {
  if (by != GroupBy::kFunc && a.size() != b.size()) {
    return a.size() < b.size();
  }
  return a < b;
}

bool HasSched(const std::vector<StatRow>& rows) {
  return std::any_of(rows.begin(), rows.end(),
                     [](const StatRow& r) { return r.split.sched_count > 0; });
}

StatRow MakeRow(const std::string& key, const LogLinearHistogram& hist, const StatSplit& split) {
  StatRow row;
  row.split = split;
  row.key = key;
  row.count = hist.count();
  row.total_ns = hist.sum();
  row.mean_ns = hist.mean();
  row.p50_ns = hist.Quantile(0.50);
  row.p90_ns = hist.Quantile(0.90);
  row.p99_ns = hist.Quantile(0.99);
  row.max_ns = hist.max();
  row.hist = hist;
  return row;
}

template <typename Acc>
std::vector<StatRow> BuildRows(GroupBy by, const std::map<std::string, Acc>& groups,
                               const Acc& other) {
  std::vector<StatRow> rows;
  rows.reserve(groups.size() + 1);
  for (const auto& [key, acc] : groups) {
    rows.push_back(MakeRow(key, acc.hist, acc.split));
  }
  std::sort(rows.begin(), rows.end(), [by](const StatRow& a, const StatRow& b) {
    if (a.total_ns != b.total_ns) {
      return a.total_ns > b.total_ns;
    }
    return KeyLess(by, a.key, b.key);
  });
  if (other.hist.count() > 0) {
    rows.push_back(MakeRow(kOtherKey, other.hist, other.split));
  }
  return rows;
}

const char* KeyTitle(GroupBy by) {
  switch (by) {
    case GroupBy::kGoid:
      return "GOID";
    case GroupBy::kTid:
      return "TID";
    case GroupBy::kFunc:
      break;
  }
  return "FUNC";
}

// Terminal columns taken by UTF-8 text (one per code point; keys are
// symbol names, so no wide characters are expected).
size_t DisplayWidth(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Casting a double at or above 2^64 to uint64_t is undefined.
uint64_t RoundToNs(double ns) {
  if (!(ns > 0)) {
    return 0;
  }
  const double rounded = ns + 0.5;
  return rounded >= 18446744073709551616.0 ? UINT64_MAX : static_cast<uint64_t>(rounded);
}

std::array<std::string, kDurationColumns> DurationCells(const StatRow& row) {
  return {HumanDuration(row.total_ns), HumanDuration(RoundToNs(row.mean_ns)),
          HumanDuration(row.p50_ns),   HumanDuration(row.p90_ns),
          HumanDuration(row.p99_ns),   HumanDuration(row.max_ns)};
}

struct ColumnWidths {
  size_t key = 20;
  size_t count = 6;
  size_t duration = 11;
};

// One set of widths for both tables so calls and callbacks line up, and
// every column keeps a visible gap from its neighbour.
ColumnWidths ComputeWidths(const StatSnapshot& snap) {
  ColumnWidths w;
  for (const auto* rows : {&snap.calls, &snap.callbacks}) {
    for (const StatRow& row : *rows) {
      w.key = std::max(w.key, DisplayWidth(row.key));
      w.count = std::max(w.count, fmt::formatted_size("{}", row.count) + 1);
      for (const std::string& cell : DurationCells(row)) {
        w.duration = std::max(w.duration, DisplayWidth(cell) + 2);
      }
    }
  }
  return w;
}

void AppendTable(std::string& out, const char* key_title, const std::vector<StatRow>& rows,
                 const ColumnWidths& w, bool split) {
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{:<{}}{:>{}}", key_title, w.key, "COUNT", w.count);
  for (const char* title : {"TOTAL", "MEAN", "P50", "P90", "P99", "MAX"}) {
    fmt::format_to(it, "{:>{}}", title, w.duration);
  }
  if (split) {
    for (const char* title : {"IN C", "RE-ENTRY", "RE-ENTRY MAX"}) {
      fmt::format_to(it, "{:>{}}", title, w.duration + 2);
    }
  }
  out += '\n';
  for (const StatRow& row : rows) {
    fmt::format_to(it, "{:<{}}{:>{}}", row.key, w.key, row.count, w.count);
    for (const std::string& cell : DurationCells(row)) {
      fmt::format_to(it, "{:>{}}", cell, w.duration);
    }
    if (split) {
      const StatSplit& s = row.split;
      fmt::format_to(it, "{:>{}}{:>{}}{:>{}}", s.c_count ? HumanDuration(s.c_total_ns) : "-",
                     w.duration + 2, s.sched_count ? HumanDuration(s.sched_total_ns) : "-",
                     w.duration + 2, s.sched_count ? HumanDuration(s.sched_max_ns) : "-",
                     w.duration + 2);
    }
    out += '\n';
  }
}

void AppendJsonRows(std::string& out, const std::vector<StatRow>& rows) {
  auto it = std::back_inserter(out);
  out += '[';
  for (size_t r = 0; r < rows.size(); ++r) {
    const StatRow& row = rows[r];
    if (r > 0) {
      out += ',';
    }
    fmt::format_to(it,
                   R"({{"key":{},"count":{},"total_ns":{},"mean_ns":{},"p50_ns":{},)"
                   R"("p90_ns":{},"p99_ns":{},"max_ns":{},"c_total_ns":{},"sched_count":{},)"
                   R"("sched_total_ns":{},"sched_max_ns":{},"buckets":[)",
                   JsonQuote(row.key), row.count, row.total_ns, row.mean_ns, row.p50_ns, row.p90_ns,
                   row.p99_ns, row.max_ns, row.split.c_total_ns, row.split.sched_count,
                   row.split.sched_total_ns, row.split.sched_max_ns);
    bool first = true;
    for (size_t i = 0; i < LogLinearHistogram::kBuckets; ++i) {
      const uint64_t n = row.hist.BucketCount(i);
      if (n == 0) {
        continue;
      }
      fmt::format_to(it, "{}[{},{},{}]", first ? "" : ",", LogLinearHistogram::BucketLower(i),
                     LogLinearHistogram::BucketUpper(i), n);
      first = false;
    }
    out += "]}";
  }
  out += ']';
}

}  // namespace

namespace {
constexpr std::array<Choice<GroupBy>, 3> kGroupByChoices{
    {{"func", GroupBy::kFunc}, {"goid", GroupBy::kGoid}, {"tid", GroupBy::kTid}}};
}  // namespace

Result<GroupBy> ParseGroupBy(const std::string& text) {
  return ParseChoice<GroupBy>("--by", text, kGroupByChoices);
}

const char* GroupByName(GroupBy by) { return ChoiceName<GroupBy>(kGroupByChoices, by).data(); }

void StatSplit::Add(const CgoEvent& event) {
  if (event.c_ns != 0) {
    ++c_count;
    c_total_ns += event.c_ns;
  }
  if (event.sched_ns != 0) {
    ++sched_count;
    sched_total_ns += event.sched_ns;
    sched_max_ns = std::max(sched_max_ns, event.sched_ns);
  }
}

void StatSplit::Add(const AggregateRow& row) {
  c_count += row.split_count;
  c_total_ns += row.c_sum_ns;
  sched_count += row.split_count;
  sched_total_ns += row.sched_sum_ns;
  sched_max_ns = std::max(sched_max_ns, row.sched_max_ns);
}

void StatAggregator::Acc::Add(const CgoEvent& event) {
  hist.Record(event.duration_ns);
  split.Add(event);
}

void StatAggregator::Add(const CgoEvent& event) {
  std::string key;
  switch (by_) {
    case GroupBy::kFunc:
      key = event.func;
      break;
    case GroupBy::kGoid:
      key = std::to_string(event.goid);
      break;
    case GroupBy::kTid:
      key = std::to_string(event.tid);
      break;
  }
  Table& table = event.kind == EventKind::kCallback ? callbacks_ : calls_;
  auto it = table.rows.find(key);
  if (it != table.rows.end()) {
    it->second.Add(event);
  } else if (table.rows.size() < max_rows_) {
    table.rows[std::move(key)].Add(event);
  } else {
    table.other.Add(event);
  }
  ++events_;
}

void StatAggregator::AddAggregate(const AggregateRow& row) {
  Table& table = row.kind == EventKind::kCallback ? callbacks_ : calls_;
  auto it = table.rows.find(row.func);
  Acc* acc = nullptr;
  if (it != table.rows.end()) {
    acc = &it->second;
  } else if (table.rows.size() < max_rows_) {
    acc = &table.rows[row.func];
  } else {
    acc = &table.other;
  }
  acc->hist.AddBuckets(row.buckets, row.count, row.sum_ns, row.min_ns, row.max_ns);
  acc->split.Add(row);
  events_ += row.count;
}

StatSnapshot StatAggregator::Snapshot(uint64_t interval_ns) const {
  StatSnapshot snap;
  snap.by = by_;
  snap.calls = BuildRows(by_, calls_.rows, calls_.other);
  snap.callbacks = BuildRows(by_, callbacks_.rows, callbacks_.other);
  snap.max_rows = max_rows_;
  snap.events = events_;
  snap.lost = lost_;
  snap.unreturned = unreturned_;
  snap.interval_ns = interval_ns;
  return snap;
}

void StatAggregator::Reset() {
  calls_ = {};
  callbacks_ = {};
  events_ = 0;
}

std::string FormatStatText(const StatSnapshot& snap, bool histograms) {
  const ColumnWidths widths = ComputeWidths(snap);
  const char* key_title = KeyTitle(snap.by);
  std::string out;
  const bool split = HasSched(snap.calls);
  AppendTable(out, key_title, snap.calls, widths, split);
  if (!snap.callbacks.empty()) {
    out += "\ncallbacks (C -> Go):\n";
    AppendTable(out, key_title, snap.callbacks, widths, false);
  }
  if (histograms) {
    for (const StatRow& row : snap.calls) {
      out += fmt::format("\n{}:\n", row.key);
      out += RenderLog2Ascii(row.hist, "usecs", 1000);
    }
    for (const StatRow& row : snap.callbacks) {
      out += fmt::format("\n{} (callback):\n", row.key);
      out += RenderLog2Ascii(row.hist, "usecs", 1000);
    }
  }
  for (const auto* rows : {&snap.calls, &snap.callbacks}) {
    if (!rows->empty() && rows->back().key == kOtherKey) {
      out +=
          fmt::format("\n{}: calls of every {} after the first {} seen (raise with --max-rows)\n",
                      kOtherKey, GroupByName(snap.by), snap.max_rows);
      break;
    }
  }
  // lost is printed even when 0 so a clean run is distinguishable from one
  // whose drop counter was never read.
  out += fmt::format("\nevents: {}  lost: {}  unreturned: {}\n", snap.events, snap.lost,
                     snap.unreturned);
  return out;
}

std::string FormatStatJson(const StatSnapshot& snap) {
  std::string out =
      fmt::format(R"({{"by":"{}","interval_ns":{},"events":{},"lost":{},"unreturned":{},)"
                  R"("max_rows":{},)",
                  GroupByName(snap.by), snap.interval_ns, snap.events, snap.lost, snap.unreturned,
                  snap.max_rows);
  out += R"("calls":)";
  AppendJsonRows(out, snap.calls);
  out += R"(,"callbacks":)";
  AppendJsonRows(out, snap.callbacks);
  out += '}';
  return out;
}

}  // namespace cgotrace
