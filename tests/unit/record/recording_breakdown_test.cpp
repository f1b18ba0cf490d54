// The latency breakdown (c_ns, sched_ns of --breakdown) in the pprof and
// Perfetto views of synthetic recordings with a known truth, read back with
// the project's own definitions of both formats; and recordings without it
// (older files, exact mode) giving exactly the files they gave before.
#include <map>
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
using testing::SyntheticBreakdown;

class BreakdownFormatsTest : public testing::SyntheticRecordingTest {
 protected:
  BreakdownFormatsTest() : SyntheticRecordingTest(11, SyntheticBreakdown::kSplit) {}
};

class ExactModeFormatsTest : public testing::SyntheticRecordingTest {
 protected:
  ExactModeFormatsTest() : SyntheticRecordingTest(11, SyntheticBreakdown::kExact) {}
};

// `events` (in completion order) written with FixedHeader(100) to `path`
// and loaded back.
LoadedRecording Load(const std::string& path, const std::vector<CgoEvent>& events) {
  auto w = RecordingWriter::Create(path, testing::FixedHeader(100));
  EXPECT_TRUE(w.ok());
  for (const CgoEvent& ev : events) EXPECT_TRUE((*w)->Add(ev).ok());
  EXPECT_TRUE((*w)->Finish(RecordingTrailer{}).ok());
  auto loaded = LoadRecording(path);
  EXPECT_TRUE(loaded.ok());
  return std::move(*loaded);
}

// The same synthetic events (seed 11) without any breakdown, loaded.
LoadedRecording PlainRecording(const std::string& dir) {
  return Load(dir + "/plain.cgotrace", testing::MakeSynthetic(6, 250, 11).events);
}

// ---------------------------------------------------------------------------
// pprof

TEST_F(BreakdownFormatsTest, PprofAddsCTimeAndSchedTimeAfterTheUsualTypes) {
  auto gz = PprofFromRecording(rec_);
  ASSERT_TRUE(gz.ok()) << gz.error().message;
  const DecodedProfile d = Decode(*gz);
  ASSERT_EQ(d.p.sample_type_size(), 4);
  const std::vector<std::pair<std::string, std::string>> want = {{"calls", "count"},
                                                                 {"time", "nanoseconds"},
                                                                 {"c_time", "nanoseconds"},
                                                                 {"sched_time", "nanoseconds"}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(d.Str(d.p.sample_type(i).type()), want[static_cast<size_t>(i)].first);
    EXPECT_EQ(d.Str(d.p.sample_type(i).unit()), want[static_cast<size_t>(i)].second);
  }
  EXPECT_EQ(d.Str(d.p.default_sample_type()), "time");

  // Per (goroutine, leaf): sched time is the sum of the calls' sched_ns;
  // every call's time splits into C time and sched time; callbacks have
  // neither (their time is in their call's C part, taken out of it).
  std::map<std::tuple<uint64_t, std::string>, uint64_t> sched, sched_want;
  uint64_t c_total = 0, time_total = 0;
  for (const pprof::Sample& s : d.p.sample()) {
    ASSERT_EQ(s.value_size(), 4);
    const std::string leaf = d.Frames(s).back();
    if (leaf == "goCallback") {
      EXPECT_EQ(s.value(2), 0);
      EXPECT_EQ(s.value(3), 0);
    } else {
      EXPECT_EQ(s.value(1), s.value(2) + s.value(3)) << leaf;
      EXPECT_GT(s.value(2), 0) << leaf;
      EXPECT_GT(s.value(3), 0) << leaf;
    }
    if (leaf != "goCallback") {
      sched[{std::stoull(d.Label(s, "goid")), leaf}] += static_cast<uint64_t>(s.value(3));
    }
    c_total += static_cast<uint64_t>(s.value(2));
    time_total += static_cast<uint64_t>(s.value(1));
  }
  uint64_t c_want = 0, callbacks_ns = 0;
  for (const CgoEvent& e : synthetic_.events) {
    if (e.kind == EventKind::kCallback) {
      callbacks_ns += e.duration_ns;
      continue;
    }
    sched_want[{e.goid, e.func}] += e.sched_ns;  // the two processes' goids differ
    c_want += e.c_ns;
  }
  EXPECT_EQ(sched, sched_want);
  EXPECT_EQ(c_total, c_want - callbacks_ns);
  EXPECT_EQ(time_total, synthetic_.truth.total_call_ns);
}

TEST_F(ExactModeFormatsTest, PprofWithoutReEntryTimeIsTheProfileOfBefore) {
  // Exact mode's c_ns only repeats duration_ns: no breakdown sample types,
  // and the very profile of the same events recorded without c_ns (but for
  // the duration, which ends when each file was finished).
  auto gz = PprofFromRecording(rec_);
  ASSERT_TRUE(gz.ok()) << gz.error().message;
  auto plain = PprofFromRecording(PlainRecording(dir_));
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  DecodedProfile exact = Decode(*gz), before = Decode(*plain);
  EXPECT_EQ(exact.p.sample_type_size(), 2);
  exact.p.clear_duration_nanos();
  before.p.clear_duration_nanos();
  EXPECT_EQ(exact.p.SerializeAsString(), before.p.SerializeAsString());
}

// ---------------------------------------------------------------------------
// Perfetto

// Every call's slice holds "in C" then "re-entering Go", back to back and
// filling it; every callback lies in its call's "in C".
TEST_F(BreakdownFormatsTest, PerfettoNestsThePhasesInEachCallAndCallbacksInC) {
  const DecodedTrace t = DecodeTrace(FormatPerfettoTrace(rec_));
  EXPECT_EQ(t.unbalanced, 0u);
  // (track, name, start, end) -> name of the enclosing slice.
  using Key = std::tuple<std::string, std::string, uint64_t, uint64_t>;
  std::map<Key, std::string> got, want;
  for (const Slice& s : t.slices) got[{s.track, s.name, s.start, s.end}] = s.parent;
  size_t calls = 0;
  for (const CgoEvent& e : synthetic_.events) {
    const std::string track = "goroutine " + std::to_string(e.goid);
    const uint64_t end = e.start_ns + e.duration_ns;
    if (e.kind == EventKind::kCallback) {
      want[{track, e.func, e.start_ns, end}] = "in C";
      continue;
    }
    ++calls;
    want[{track, e.func, e.start_ns, end}] = "";
    want[{track, "in C", e.start_ns, e.start_ns + e.c_ns}] = e.func;
    want[{track, "re-entering Go", e.start_ns + e.c_ns, end}] = e.func;
  }
  EXPECT_EQ(t.slices.size(), synthetic_.events.size() + 2 * calls);
  EXPECT_EQ(got, want);
}

// A callback that does not lie in its call's C part (clock or data trouble)
// leaves that call without phases rather than breaking the nesting.
TEST_F(BreakdownFormatsTest, PerfettoLeavesOutThePhasesOfACallWhoseCallbackLeavesItsCPart) {
  CgoEvent call = synthetic_.events.front();
  call.kind = EventKind::kCall;
  call.func = "call_back_n";
  call.start_ns = 2'000'000'000;
  call.duration_ns = 1000;
  call.c_ns = 500;
  call.sched_ns = 500;
  CgoEvent cb = call;
  cb.kind = EventKind::kCallback;
  cb.func = "goCallback";
  cb.start_ns = call.start_ns + 200;
  cb.duration_ns = 400;  // ends 100 ns into the re-entry
  cb.c_ns = cb.sched_ns = 0;
  CgoEvent fine = call;
  fine.func = "fast_add";
  fine.start_ns = call.start_ns + 5000;
  const DecodedTrace t =
      DecodeTrace(FormatPerfettoTrace(Load(dir_ + "/odd.cgotrace", {cb, call, fine})));
  EXPECT_EQ(t.unbalanced, 0u);
  std::map<std::string, std::string> parent;
  for (const Slice& s : t.slices) parent[s.name + "@" + std::to_string(s.start)] = s.parent;
  const std::map<std::string, std::string> want = {{"call_back_n@2000000000", ""},
                                                   {"goCallback@2000000200", "call_back_n"},
                                                   {"fast_add@2000005000", ""},
                                                   {"in C@2000005000", "fast_add"},
                                                   {"re-entering Go@2000005500", "fast_add"}};
  EXPECT_EQ(parent, want);
}

TEST_F(ExactModeFormatsTest, PerfettoWithoutReEntryTimeIsTheTraceOfBefore) {
  EXPECT_EQ(FormatPerfettoTrace(rec_), FormatPerfettoTrace(PlainRecording(dir_)));
}

}  // namespace
}  // namespace cgotrace
