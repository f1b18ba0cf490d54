// Report views of synthetic recordings with a known truth: table (text and
// JSON), folded stacks, flame graph SVG and Chrome trace.
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cgotrace/recording.h"
#include "formats/chrome_trace.h"
#include "recording_synthetic.h"
#include "report/flamegraph.h"
#include "report/report.h"

namespace cgotrace {
namespace {

using Json = nlohmann::json;
using testing::FixedHeader;

class ViewsTest : public testing::SyntheticRecordingTest {
 protected:
  ViewsTest() : SyntheticRecordingTest(7) {}

  TableReport Table(const std::string& sort, double limit) {
    auto keys = ParseReportSort(sort);
    EXPECT_TRUE(keys.ok());
    ReportTable table(*rec_.reader, TableOptions{*keys, limit, false});
    for (const RecordedEvent& e : rec_.events) {
      table.Add(e);
    }
    return table.Finish();
  }
};

TEST_F(ViewsTest, TableCountsEveryGoroutineAndFunction) {
  const TableReport rep = Table("pid,goid,func", 0);
  std::map<std::tuple<uint32_t, uint64_t, std::string, EventKind>, uint64_t> got;
  for (const TableRow& row : rep.calls_rows) {
    got[{static_cast<uint32_t>(row.key_numbers[0]), row.key_numbers[1], row.key[2],
         EventKind::kCall}] = row.count;
  }
  for (const TableRow& row : rep.callbacks_rows) {
    got[{static_cast<uint32_t>(row.key_numbers[0]), row.key_numbers[1], row.key[2],
         EventKind::kCallback}] = row.count;
  }
  EXPECT_EQ(got, synthetic_.truth.counts);
  EXPECT_EQ(rep.total_call_ns, synthetic_.truth.total_call_ns);
  EXPECT_EQ(rep.events, synthetic_.events.size());
  EXPECT_EQ(rep.hidden_rows, 0u);
  for (size_t i = 1; i < rep.calls_rows.size(); ++i) {
    EXPECT_GE(rep.calls_rows[i - 1].total_ns, rep.calls_rows[i].total_ns);
  }
}

TEST_F(ViewsTest, PercentLimitHidesExactlyTheSmallRows) {
  std::map<std::string, uint64_t> per_func;  // call time per C function
  for (const CgoEvent& ev : synthetic_.events) {
    if (ev.kind == EventKind::kCall) {
      per_func[ev.func] += ev.duration_ns;
    }
  }
  const double limit = 20;
  uint64_t want_hidden = 1;  // the callbacks row: far under 20% of call time
  std::vector<std::string> want_shown;
  for (const auto& [func, ns] : per_func) {
    const double pct =
        100.0 * static_cast<double>(ns) / static_cast<double>(synthetic_.truth.total_call_ns);
    if (pct < limit) {
      ++want_hidden;
    } else {
      want_shown.push_back(func);
    }
  }
  const TableReport rep = Table("func", limit);
  EXPECT_EQ(rep.hidden_rows, want_hidden);
  std::vector<std::string> shown;
  for (const TableRow& row : rep.calls_rows) {
    shown.push_back(row.key[0]);
    EXPECT_GE(row.percent, limit);
    EXPECT_EQ(row.total_ns, per_func[row.key[0]]);
  }
  std::sort(shown.begin(), shown.end());
  EXPECT_EQ(shown, want_shown);
}

TEST_F(ViewsTest, JsonTableParsesAndMatchesTruth) {
  const TableReport rep = Table("goid,func", 0);
  const Json j = Json::parse(FormatTableJson(*rec_.reader, rep));
  EXPECT_EQ(j["recording"]["hostname"], "testhost");
  EXPECT_EQ(j["recording"]["events"], synthetic_.events.size());
  EXPECT_EQ(j["recording"]["truncated"], false);
  EXPECT_EQ(j["sort"], Json::array({"goid", "func"}));
  std::map<std::pair<uint64_t, std::string>, uint64_t> got, want;
  for (const Json& row : j["calls"]) {
    got[{row["goid"].get<uint64_t>(), row["func"].get<std::string>()}] +=
        row["count"].get<uint64_t>();
  }
  for (const auto& [key, n] : synthetic_.truth.counts) {
    if (std::get<3>(key) == EventKind::kCall) {
      want[{std::get<1>(key), std::get<2>(key)}] += n;
    }
  }
  EXPECT_EQ(got, want);
}

std::map<std::string, uint64_t> ParseFolded(const std::string& text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] += std::stoull(line.substr(space + 1));
  }
  return out;
}

TEST_F(ViewsTest, FoldedStacksNestCallbacksInsideTheirCalls) {
  const Profile time = BuildProfile(rec_, ProfileOptions{});
  EXPECT_EQ(ParseFolded(FormatFolded(time)), synthetic_.truth.folded_time);
  // With time weight the whole profile is exactly the time in calls.
  EXPECT_EQ(time.total, synthetic_.truth.total_call_ns);
  const Profile calls =
      BuildProfile(rec_, ProfileOptions{ProfileRoot::kGoroutine, ProfileWeight::kCalls});
  EXPECT_EQ(ParseFolded(FormatFolded(calls)), synthetic_.truth.folded_calls);

  std::map<std::string, uint64_t> merged;  // --root none: goroutines merged
  for (const auto& [line, ns] : synthetic_.truth.folded_time) {
    merged[line.substr(line.find(';') + 1)] += ns;
  }
  const Profile none = BuildProfile(rec_, ProfileOptions{ProfileRoot::kNone, ProfileWeight::kTime});
  EXPECT_EQ(ParseFolded(FormatFolded(none)), merged);
  // An example line, spelled out: the Go chain outermost first, then C.
  EXPECT_NE(FormatFolded(time).find("g17;runtime.goexit;runtime.main;main.main;main.worker;"
                                    "main._Cfunc_sqlite3_step;sqlite3_step "),
            std::string::npos);
}

TEST_F(ViewsTest, ChromeTraceNestsCallbacksAndCountsEveryEvent) {
  const Json j = Json::parse(FormatChromeTrace(rec_));
  std::map<std::pair<uint64_t, uint64_t>, std::vector<const Json*>> tracks;
  std::map<std::tuple<uint32_t, uint64_t, std::string, EventKind>, uint64_t> got;
  size_t names = 0;
  for (const Json& e : j["traceEvents"]) {
    if (e["ph"] == "M") {
      names += e["name"] == "thread_name" ? 1 : 0;
      continue;
    }
    ASSERT_EQ(e["ph"], "X");
    tracks[{e["pid"], e["tid"]}].push_back(&e);
    const bool callback = e["args"]["kind"] == "cgo_callback";
    ++got[{e["pid"].get<uint32_t>(), e["args"]["goid"].get<uint64_t>(),
           e["name"].get<std::string>(), callback ? EventKind::kCallback : EventKind::kCall}];
  }
  EXPECT_EQ(got, synthetic_.truth.counts);
  EXPECT_EQ(names, tracks.size());
  size_t nested_callbacks = 0;
  for (const auto& [track, events] : tracks) {
    std::vector<const Json*> open;
    double last_ts = -1;
    for (const Json* e : events) {
      const double ts = (*e)["ts"], end = ts + (*e)["dur"].get<double>();
      EXPECT_GE(ts, last_ts) << "events of a track are sorted by ts";
      last_ts = ts;
      while (!open.empty() &&
             (*open.back())["ts"].get<double>() + (*open.back())["dur"].get<double>() <= ts) {
        open.pop_back();
      }
      if (!open.empty()) {
        const double parent_end =
            (*open.back())["ts"].get<double>() + (*open.back())["dur"].get<double>();
        EXPECT_LE(end, parent_end) << "overlapping events on one track: " << *e;
      }
      if ((*e)["args"]["kind"] == "cgo_callback") {
        ASSERT_FALSE(open.empty()) << "callback outside any call: " << *e;
        EXPECT_EQ((*open.back())["name"], "call_back_n");
        EXPECT_EQ((*open.back())["args"]["goid"], (*e)["args"]["goid"]);
        ++nested_callbacks;
      }
      open.push_back(e);
    }
  }
  uint64_t want_callbacks = 0;
  for (const auto& [key, n] : synthetic_.truth.counts) {
    want_callbacks += std::get<3>(key) == EventKind::kCallback ? n : 0;
  }
  EXPECT_EQ(nested_callbacks, want_callbacks);
}

TEST_F(ViewsTest, FlameGraphIsEscapedAndCoversTheWholeProfile) {
  const Profile p = BuildProfile(rec_, ProfileOptions{});
  const std::string svg = RenderFlameGraph(p, FlameGraphOptions{});
  EXPECT_EQ(svg, RenderFlameGraph(p, FlameGraphOptions{})) << "deterministic";
  EXPECT_NE(svg.find(R"(data-n="odd;name&lt;&amp;&gt;")"), std::string::npos);
  EXPECT_EQ(svg.find("name<&>"), std::string::npos);
  EXPECT_NE(
      svg.find(R"(<g class="f" data-n="all" data-x="0" data-w=")" + std::to_string(p.total) + "\""),
      std::string::npos);
  for (const auto& [line, ns] : synthetic_.truth.folded_time) {
    const std::string root = line.substr(0, line.find(';'));
    EXPECT_NE(svg.find("data-n=\"" + root + "\""), std::string::npos) << root;
  }
  EXPECT_EQ(XmlEscape("a<b>&\"c'\x01"), "a&lt;b&gt;&amp;&quot;c&apos;\xEF\xBF\xBD");
}

TEST_F(ViewsTest, SummaryTellsATruncatedRecordingApart) {
  const std::string text = FormatTableText(*rec_.reader, Table("func", 0));
  EXPECT_NE(text.find("# Recorded on testhost (kernel 6.1.0-test x86_64) by cgotrace test\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# Started 2023-11-14 22:13:20.000 UTC"), std::string::npos) << text;
  EXPECT_NE(text.find("# Truncated: no;"), std::string::npos) << text;

  // The same events without a trailer.
  const std::string cut = dir_ + "/cut.cgotrace";
  auto w = RecordingWriter::Create(cut, FixedHeader(100));
  ASSERT_TRUE(w.ok());
  for (const CgoEvent& ev : synthetic_.events) {
    ASSERT_TRUE((*w)->Add(ev).ok());
  }
  ASSERT_TRUE((*w)->Flush().ok());
  w->reset();
  auto loaded = LoadRecording(cut);
  ASSERT_TRUE(loaded.ok());
  const std::string cut_text = FormatRecordingSummary(*loaded->reader);
  EXPECT_NE(cut_text.find(fmt::format("# Truncated: yes, after {} events (no trailer)",
                                      synthetic_.events.size())),
            std::string::npos)
      << cut_text;
}

TEST(RecordingViews, EmptyRecordingRendersInEveryView) {
  char tmpl[] = "/tmp/cgotrace-empty-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/empty.cgotrace";
  auto w = RecordingWriter::Create(path, FixedHeader(16));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Finish(RecordingTrailer{}).ok());
  auto rec = LoadRecording(path);
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  EXPECT_TRUE(rec->events.empty());
  EXPECT_FALSE(rec->reader->truncated());
  ReportTable table(*rec->reader, TableOptions{});
  const TableReport rep = table.Finish();
  EXPECT_NE(FormatTableText(*rec->reader, rep).find("# (no rows to show)"), std::string::npos);
  const Json j = Json::parse(FormatTableJson(*rec->reader, rep));
  EXPECT_EQ(j["recording"]["events"], 0);
  const Profile p = BuildProfile(*rec, ProfileOptions{});
  EXPECT_EQ(FormatFolded(p), "");
  EXPECT_NE(RenderFlameGraph(p, FlameGraphOptions{}).find("</svg>"), std::string::npos);
  EXPECT_EQ(Json::parse(FormatChromeTrace(*rec))["traceEvents"], Json::array());
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace cgotrace
