// `cgotrace report --format perfetto` of a real `record --breakdown` of the
// cgocalls fixture, replayed as trace_processor replays it (the project's
// own decoder, tests/common/formats_decoded.h): every call's slice holds its
// "in C" and "re-entering Go" phases at the recorded times, every callback
// lies in its call's "in C", and the slices per function are exactly the
// fixture's calls.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "cgotrace/recording.h"
#include "checks.h"
#include "formats_decoded.h"
#include "harness.h"
#include "record_helpers.h"

namespace cgotrace::e2e {
namespace {

using PerfettoReportTest = BpfTest;

TEST_F(PerfettoReportTest, BreakdownPhasesNestInEveryCallAndCallbacksInC) {
  const Recorded run = RecordFixture(dir_, {"--breakdown", "--call-stacks"}, Fixture("cgocalls"),
                                     ModestCgocallsArgs());
  ASSERT_FALSE(run.truth.is_null());
  const Json* truth = &run.truth;
  const std::string pf = dir_.File("cgo.pftrace");
  ASSERT_TRUE(ReportTo(dir_, run.path, "perfetto", pf));
  auto loaded = LoadRecording(run.path);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;

  const testing::DecodedTrace t = testing::DecodeTrace(ReadFile(pf));
  EXPECT_EQ(t.unbalanced, 0u);
  // (goroutine track, name, start, end) -> the enclosing slice's name.
  using Key = std::tuple<std::string, std::string, uint64_t, uint64_t>;
  std::map<Key, std::string> got;
  std::map<std::string, uint64_t> per_name;
  for (const testing::Slice& s : t.slices) {
    got[{s.track, s.name, s.start, s.end}] = s.parent;
    ++per_name[s.name];
  }
  const RecordingReader& reader = *loaded->reader;
  uint64_t calls = 0;
  for (const RecordedEvent& e : loaded->events) {
    const std::string func = reader.str(e.func);
    SCOPED_TRACE(func + " at " + std::to_string(e.start_ns));
    const std::string track = "goroutine " + std::to_string(e.goid);
    const uint64_t end = e.start_ns + e.duration_ns;
    auto parent = [&](const std::string& name, uint64_t from, uint64_t to) {
      auto it = got.find({track, name, from, to});
      return it == got.end() ? std::string("(no such slice)") : it->second;
    };
    if (e.kind == EventKind::kCallback) {
      EXPECT_EQ(parent(func, e.start_ns, end), "in C");
      continue;
    }
    ++calls;
    // The contract of --breakdown: both parts measured, filling the call.
    ASSERT_GT(e.c_ns, 0u);
    ASSERT_GT(e.sched_ns, 0u);
    ASSERT_EQ(e.c_ns + e.sched_ns, e.duration_ns);
    EXPECT_NE(parent(func, e.start_ns, end), "(no such slice)");
    EXPECT_EQ(parent("in C", e.start_ns, e.start_ns + e.c_ns), func);
    EXPECT_EQ(parent("re-entering Go", e.start_ns + e.c_ns, end), func);
    if (func == "sleep_us") {  // a known sleep is in C
      EXPECT_GE(e.c_ns, truth->at("sleep_us").get<uint64_t>() * 1000);
    }
  }
  EXPECT_EQ(per_name["in C"], calls);
  EXPECT_EQ(per_name["re-entering Go"], calls);
  EXPECT_EQ(t.slices.size(), loaded->events.size() + 2 * calls);
  // Exactly the fixture's calls and callbacks, one slice each.
  for (const auto& [func, n] : TruthCallsByFunc(*truth)) {
    EXPECT_EQ(per_name[func], n) << func;
  }
  ASSERT_TRUE(truth->contains("callbacks"));
  EXPECT_GT(per_name["goCallback"], 0u);
}

}  // namespace
}  // namespace cgotrace::e2e
