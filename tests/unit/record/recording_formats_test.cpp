// pprof and Perfetto views of synthetic recordings with a known truth, read
// back with the project's own definitions of both formats (proto/), and the
// Perfetto golden of the real recording in tests/data.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "cgotrace/recording.h"
#include "formats/perfetto_trace.h"
#include "formats/pprof.h"
#include "formats_decoded.h"
#include "recording_synthetic.h"

namespace cgotrace {
namespace {

using testing::Decode;
using testing::DecodedProfile;
using testing::DecodedTrace;
using testing::DecodeTrace;
using testing::Slice;

class FormatsTest : public testing::SyntheticRecordingTest {
 protected:
  FormatsTest() : SyntheticRecordingTest(11) {}
};

// ---------------------------------------------------------------------------
// pprof

TEST_F(FormatsTest, PprofCountsAndStacksMatchTruth) {
  auto gz = PprofFromRecording(rec_);
  ASSERT_TRUE(gz.ok()) << gz.error().message;
  ASSERT_GT(gz->size(), 2u);
  EXPECT_EQ(static_cast<uint8_t>((*gz)[0]), 0x1f);  // gzip magic
  const DecodedProfile d = Decode(*gz);
  ASSERT_EQ(d.p.sample_type_size(), 2);
  EXPECT_EQ(d.Str(d.p.sample_type(0).type()), "calls");
  EXPECT_EQ(d.Str(d.p.sample_type(0).unit()), "count");
  EXPECT_EQ(d.Str(d.p.sample_type(1).type()), "time");
  EXPECT_EQ(d.Str(d.p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(d.Str(d.p.default_sample_type()), "time");
  EXPECT_EQ(d.Str(0), "");

  // Per (binary, goroutine, leaf) the call count; per folded path the time.
  std::map<std::tuple<uint32_t, uint64_t, std::string, EventKind>, uint64_t> counts;
  std::map<std::string, uint64_t> folded_time, folded_calls;
  for (const pprof::Sample& s : d.p.sample()) {
    ASSERT_EQ(s.value_size(), 2);
    const std::string binary = d.Label(s, "binary");
    const uint32_t pid = binary == "/nonexistent/app"     ? 4242
                         : binary == "/nonexistent/other" ? 5000
                                                          : 0;
    ASSERT_NE(pid, 0u) << binary;
    const uint64_t goid = std::stoull(d.Label(s, "goid"));
    EXPECT_FALSE(d.Label(s, "thread").empty());
    const std::vector<std::string> frames = d.Frames(s);
    const bool callback = frames.back() == "goCallback";
    counts[{pid, goid, frames.back(), callback ? EventKind::kCallback : EventKind::kCall}] +=
        static_cast<uint64_t>(s.value(0));
    std::vector<std::string> path = {"g" + std::to_string(goid)};
    for (const std::string& f : frames) path.push_back(testing::FoldedFrame(f));
    folded_time[testing::Join(path)] += static_cast<uint64_t>(s.value(1));
    folded_calls[testing::Join(path)] += static_cast<uint64_t>(s.value(0));
  }
  EXPECT_EQ(counts, synthetic_.truth.counts);
  EXPECT_EQ(folded_calls, synthetic_.truth.folded_calls);
  EXPECT_EQ(folded_time, synthetic_.truth.folded_time);
  // Every mapping names its binary and says it needs no symbolization.
  ASSERT_EQ(d.p.mapping_size(), 2);
  for (const pprof::Mapping& m : d.p.mapping()) {
    EXPECT_TRUE(d.Str(m.filename()).starts_with("/nonexistent/"));
    EXPECT_TRUE(m.has_functions());
  }
  EXPECT_EQ(d.p.time_nanos(), 1'700'000'000'000'000'000);
}

TEST_F(FormatsTest, PprofBuilderMergesSamplesAndKeepsPcLines) {
  PprofBuilder b({{"samples", "count"}}, 0);
  const uint64_t m = b.Mapping("/bin/app", "abc");
  EXPECT_EQ(b.Mapping("/bin/app", "abc"), m);
  const uint64_t go = b.PcLocation(m, 0x401234, "main.f", "/src/main.go", 42);
  EXPECT_EQ(b.PcLocation(m, 0x401234, "main.f", "/src/main.go", 42), go);
  const uint64_t c = b.NamedLocation(m, "sqlite3_step");
  const std::vector<PprofLabel> labels = {{b.String("goid"), b.String("7")}};
  const size_t s = b.Sample({c, go}, labels);
  EXPECT_EQ(b.Sample({c, go}, labels), s);
  EXPECT_NE(b.Sample({c, go}, {}), s);
  const int64_t one[] = {1};
  b.Add(s, one);
  b.Add(s, one);
  auto gz = b.Finish();
  ASSERT_TRUE(gz.ok());
  const DecodedProfile d = Decode(*gz);
  ASSERT_EQ(d.p.sample_size(), 2);
  EXPECT_EQ(d.p.sample(0).value(0), 2);
  const pprof::Location* loc = d.locations.at(go);
  EXPECT_EQ(loc->address(), 0x401234u);
  EXPECT_EQ(loc->line(0).line(), 42);
  EXPECT_EQ(d.Str(d.functions.at(loc->line(0).function_id())->filename()), "/src/main.go");
  EXPECT_EQ(d.p.mapping(0).memory_start(), 0x401234u);
  EXPECT_EQ(d.p.mapping(0).memory_limit(), 0x401235u);
}

// ---------------------------------------------------------------------------
// Perfetto

TEST_F(FormatsTest, PerfettoOneSlicePerEventOnItsGoroutineTrack) {
  const DecodedTrace t = DecodeTrace(FormatPerfettoTrace(rec_));
  EXPECT_EQ(t.unbalanced, 0u);
  ASSERT_EQ(t.slices.size(), synthetic_.events.size());
  using Key = std::tuple<uint32_t, std::string, std::string, uint64_t, uint64_t, uint64_t>;
  std::multiset<Key> got, want;
  for (const Slice& s : t.slices) {
    got.insert({s.pid, s.track, s.name, s.start, s.end, s.tid});
    if (s.name == "goCallback") {
      EXPECT_EQ(s.parent, "call_back_n");  // nested inside its call
    } else {
      EXPECT_EQ(s.parent, "");
    }
    const std::vector<std::string> chain =
        s.name == "goCallback" ? std::vector<std::string>{} : testing::ChainFor(s.name);
    std::string joined;
    for (const std::string& f : chain) joined += (joined.empty() ? "" : "\n") + f;
    EXPECT_EQ(s.stack, joined) << s.name;
  }
  for (const CgoEvent& e : synthetic_.events) {
    want.insert({e.pid, "goroutine " + std::to_string(e.goid), e.func, e.start_ns,
                 e.start_ns + e.duration_ns, e.tid});
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(t.track_names.size(), 7u);  // 6 goroutines of app, 1 of other
  std::set<std::string> processes;
  for (const auto& [uuid, name] : t.process_names) processes.insert(name);
  EXPECT_EQ(processes, (std::set<std::string>{"app", "other"}));
}

TEST_F(FormatsTest, PerfettoIsAFractionOfChromeJsonSize) {
  const std::string trace = FormatPerfettoTrace(rec_);
  // Two packets per event; names, stacks and annotation names interned:
  // about 40 bytes per event, where Chrome JSON takes 190-310.
  EXPECT_LT(trace.size(), synthetic_.events.size() * 45);
}

TEST(FormatsGolden, PerfettoOfTheKeptRecording) {
  const std::string data = std::string(CGOTRACE_SOURCE_DIR) + "/tests/data/";
  auto rec = LoadRecording(data + "cgocalls.cgotrace");
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  const std::string got = FormatPerfettoTrace(*rec);
  const std::string path = data + "cgocalls.pftrace";
  if (std::getenv("CGOTRACE_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << got;
  }
  std::ifstream in(path, std::ios::binary);
  const std::string want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, want) << "differs from " << path << " (CGOTRACE_UPDATE_GOLDEN=1 regenerates it)";
  // And it decodes to one slice per event, each on its goroutine's track.
  const DecodedTrace t = DecodeTrace(got);
  EXPECT_EQ(t.unbalanced, 0u);
  ASSERT_EQ(t.slices.size(), rec->events.size());
  std::map<std::string, uint64_t> per_name;
  for (const Slice& s : t.slices) {
    ++per_name[s.name];
    if (s.name == "goCallback") EXPECT_EQ(s.parent, "call_back_n");
  }
  EXPECT_EQ(per_name["fast_add"], 80u);
  EXPECT_EQ(per_name["goCallback"], 6u);
  EXPECT_EQ(per_name["sleep_us"], 2u);
}

}  // namespace
}  // namespace cgotrace
