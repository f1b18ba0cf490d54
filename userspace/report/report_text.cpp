// Text and JSON renderings of a recording's summary and its table.
#include <time.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string_view>

#include "report/report.h"
#include "util/format.h"

namespace cgotrace {
namespace {

// "2024-05-01 12:00:00.123 UTC": UTC so a report reads the same everywhere.
std::string UtcTime(uint64_t realtime_ns) {
  const time_t secs = static_cast<time_t>(realtime_ns / 1000000000ull);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  (void)strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &t);  // 19 of 32 bytes
  return fmt::format("{}.{:03} UTC", buf, realtime_ns / 1000000ull % 1000);
}

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    const bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    std::string word = a;
    if (!plain) {
      word = "'";
      for (char c : a) {
        word += c == '\'' ? std::string("'\\''") : std::string(1, c);
      }
      word += "'";
    }
    out += (out.empty() ? "" : " ") + word;
  }
  return out;
}

uint64_t DurationOf(const RecordingReader& r) {
  const uint64_t end = r.end_monotonic_ns();
  const uint64_t start = r.header().start_monotonic_ns;
  return end > start ? end - start : 0;
}

size_t DisplayWidth(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string PadLeft(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  return w >= width ? s : std::string(width - w, ' ') + s;
}

std::string PadRight(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string Percent(double p) { return fmt::format("{:.2f}%", p); }

// Column titles: Time%, Count, Total, Mean, P50, P99, Max, (with a measured
// re-entry, --breakdown: InC, ReEntry, ReEntryMax), then the keys.
std::string Table(const std::vector<ReportKey>& sort, const std::vector<TableRow>& rows) {
  if (rows.empty()) {
    return "# (no rows to show)\n";
  }
  const bool split =
      std::any_of(rows.begin(), rows.end(), [](const TableRow& r) { return r.sched_count > 0; });
  const size_t kStats = split ? 10 : 7;
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> title = {"Time%", "Count", "Total", "Mean", "P50", "P99", "Max"};
  if (split) {
    title.insert(title.end(), {"InC", "ReEntry", "ReEntryMax"});
  }
  for (ReportKey k : sort) {
    std::string name = ReportKeyName(k);
    std::transform(name.begin(), name.end(), name.begin(), ::toupper);
    title.push_back(name);
  }
  std::vector<size_t> width(title.size(), 0);
  auto widen = [&](const std::vector<std::string>& line) {
    for (size_t i = 0; i < line.size(); ++i) {
      width[i] = std::max(width[i], DisplayWidth(line[i]));
    }
  };
  widen(title);
  for (const TableRow& row : rows) {
    std::vector<std::string> line = {
        Percent(row.percent),
        std::to_string(row.count),
        HumanDuration(row.total_ns),
        HumanDuration(static_cast<uint64_t>(std::llround(row.mean_ns))),
        HumanDuration(row.p50_ns),
        HumanDuration(row.p99_ns),
        HumanDuration(row.max_ns)};
    if (split) {
      line.push_back(row.c_count ? HumanDuration(row.c_total_ns) : "-");
      line.push_back(row.sched_count ? HumanDuration(row.sched_total_ns) : "-");
      line.push_back(row.sched_count ? HumanDuration(row.sched_max_ns) : "-");
    }
    line.insert(line.end(), row.key.begin(), row.key.end());
    widen(line);
    cells.push_back(std::move(line));
  }
  // Like perf: header lines start with "#", rows with blanks.
  auto render = [&](const std::vector<std::string>& line, const char* lead) {
    std::string out = lead;
    for (size_t i = 0; i < line.size(); ++i) {
      const bool last = i + 1 == line.size();
      std::string cell =
          i < kStats ? PadLeft(line[i], width[i]) : (last ? line[i] : PadRight(line[i], width[i]));
      out += (i ? "  " : "") + cell;
    }
    return out + "\n";
  };
  std::string out = render(title, "# ");
  std::vector<std::string> dots;
  dots.reserve(width.size());
  for (size_t w : width) {
    dots.emplace_back(w, '.');
  }
  out += render(dots, "# ");
  for (size_t i = 0; i < rows.size(); ++i) {
    out += render(cells[i], "  ");
    if (!rows[i].histogram.empty()) {
      out += "\n" + rows[i].histogram + "\n";
    }
  }
  return out;
}

std::string SortText(const std::vector<ReportKey>& sort) {
  std::string out;
  for (ReportKey k : sort) {
    out += (out.empty() ? "" : ",") + std::string(ReportKeyName(k));
  }
  return out;
}

}  // namespace

std::string FormatRecordingSummary(const RecordingReader& r) {
  const RecordingHeader& h = r.header();
  std::string out;
  auto line = [&](const std::string& text) { out += "# " + text + "\n"; };
  line(fmt::format("Recorded on {} (kernel {} {}) by cgotrace {}", h.hostname, h.kernel_release,
                   h.machine, h.tool_version));
  line(fmt::format("Started {}, lasted {}", UtcTime(h.start_realtime_ns),
                   HumanDuration(DurationOf(r))));
  if (!h.argv.empty()) {
    line("Command: " + ShellJoin(h.argv));
  }
  for (const std::string& t : h.targets) {
    line("Target: " + t);
  }
  for (const RecordedProcess& p : r.processes()) {
    line(fmt::format("Process {} {}: {}, build id {}, {}", p.pid, p.comm,
                     p.go_version.empty() ? "Go version unknown" : p.go_version,
                     p.build_id.empty() ? "none" : p.build_id, p.binary_path));
  }
  line(fmt::format("Events: {}, lost: {}", r.events_read(), r.lost()));
  line(std::string("Call stacks: ") + (h.call_stacks ? "recorded" : "not recorded"));
  if (r.trailer() && r.trailer()->exit_status >= 0) {
    line(fmt::format("Launched command exited with status {}", r.trailer()->exit_status));
  }
  if (r.truncated()) {
    line(fmt::format("Truncated: yes, after {} events (no trailer)", r.events_read()));
  } else {
    std::string counters;
    const RecordingTrailer& t = *r.trailer();
#define CGOTRACE_SHOW(name, text, ...) \
  counters += std::string_view(#name) == "lost" ? "" : fmt::format(", {} {}", t.name, text);
    CGOTRACE_RUN_COUNTERS(CGOTRACE_SHOW)
#undef CGOTRACE_SHOW
    line("Truncated: no" + (counters.empty() ? "" : ";" + counters.substr(1)));
  }
  return out;
}

std::string FormatTableText(const RecordingReader& r, const TableReport& rep) {
  std::string out = FormatRecordingSummary(r);
  out += "#\n";
  out += fmt::format("# Calls: {}, {} in total, sorted by {}\n", rep.calls,
                     HumanDuration(rep.total_call_ns), SortText(rep.sort));
  if (rep.percent_limit > 0) {
    out += fmt::format("# Rows under {}% of the total call time hidden: {}\n", rep.percent_limit,
                       rep.hidden_rows);
  }
  out += "#\n";
  out += Table(rep.sort, rep.calls_rows);
  if (rep.callbacks != 0) {
    out += "\n";
    out += fmt::format(
        "# Callbacks (C->Go): {}; their time is part of the calls they ran in, Time% is of "
        "all call time\n#\n",
        rep.callbacks);
    out += Table(rep.sort, rep.callbacks_rows);
  }
  return out;
}

std::string FormatTableJson(const RecordingReader& r, const TableReport& rep) {
  const RecordingHeader& h = r.header();
  std::string out = "{\"recording\":{";
  auto strings = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      s += (i ? "," : "") + JsonQuote(v[i]);
    }
    return s + "]";
  };
  fmt::format_to(std::back_inserter(out),
                 R"("hostname":{},"kernel_release":{},"machine":{},"tool_version":{},)"
                 R"("format_version":{},"start_realtime_ns":{},"start_time":{},)"
                 R"("duration_ns":{},"argv":{},"targets":{},"call_stacks":{},"processes":[)",
                 JsonQuote(h.hostname), JsonQuote(h.kernel_release), JsonQuote(h.machine),
                 JsonQuote(h.tool_version), h.format_version, h.start_realtime_ns,
                 JsonQuote(UtcTime(h.start_realtime_ns)), DurationOf(r), strings(h.argv),
                 strings(h.targets), h.call_stacks);
  for (size_t i = 0; i < r.processes().size(); ++i) {
    const RecordedProcess& p = r.processes()[i];
    fmt::format_to(std::back_inserter(out),
                   R"({}{{"pid":{},"comm":{},"binary_path":{},"build_id":{},"go_version":{}}})",
                   i ? "," : "", p.pid, JsonQuote(p.comm), JsonQuote(p.binary_path),
                   JsonQuote(p.build_id), JsonQuote(p.go_version));
  }
  fmt::format_to(std::back_inserter(out),
                 R"(],"events":{},"calls":{},"callbacks":{},"lost":{},"truncated":{}}},)",
                 r.events_read(), rep.calls, rep.callbacks, r.lost(), r.truncated());
  std::vector<std::string> sort;
  for (ReportKey k : rep.sort) {
    sort.emplace_back(ReportKeyName(k));
  }
  fmt::format_to(std::back_inserter(out),
                 R"("sort":{},"percent_limit":{},"total_call_ns":{},"hidden_rows":{})",
                 strings(sort), rep.percent_limit, rep.total_call_ns, rep.hidden_rows);
  auto rows = [&](const char* name, const std::vector<TableRow>& v) {
    fmt::format_to(std::back_inserter(out), R"(,"{}":[)", name);
    for (size_t i = 0; i < v.size(); ++i) {
      const TableRow& row = v[i];
      out += i ? ",{" : "{";
      for (size_t k = 0; k < rep.sort.size(); ++k) {
        const bool numeric = rep.sort[k] == ReportKey::kGoid || rep.sort[k] == ReportKey::kTid ||
                             rep.sort[k] == ReportKey::kPid;
        fmt::format_to(std::back_inserter(out), R"("{}":{},)", ReportKeyName(rep.sort[k]),
                       numeric ? row.key[k] : JsonQuote(row.key[k]));
      }
      fmt::format_to(std::back_inserter(out),
                     R"("count":{},"total_ns":{},"percent":{:.4f},"mean_ns":{:.1f},)"
                     R"("min_ns":{},"p50_ns":{},"p99_ns":{},"max_ns":{})",
                     row.count, row.total_ns, row.percent, row.mean_ns, row.min_ns, row.p50_ns,
                     row.p99_ns, row.max_ns);
      // Only where measured: older recordings read as before.
      if (row.c_count != 0) {
        fmt::format_to(std::back_inserter(out), R"(,"c_count":{},"c_total_ns":{})", row.c_count,
                       row.c_total_ns);
      }
      if (row.sched_count != 0) {
        fmt::format_to(std::back_inserter(out),
                       R"(,"sched_count":{},"sched_total_ns":{},"sched_max_ns":{})",
                       row.sched_count, row.sched_total_ns, row.sched_max_ns);
      }
      if (!row.buckets.empty()) {
        out += R"(,"buckets":[)";
        for (size_t b = 0; b < row.buckets.size(); ++b) {
          fmt::format_to(std::back_inserter(out), "{}[{},{},{}]", b ? "," : "", row.buckets[b][0],
                         row.buckets[b][1], row.buckets[b][2]);
        }
        out += "]";
      }
      out += "}";
    }
    out += "]";
  };
  rows("calls", rep.calls_rows);
  rows("callbacks", rep.callbacks_rows);
  return out + "}";
}

}  // namespace cgotrace
