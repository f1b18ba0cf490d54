// pprof and Perfetto views of synthetic recordings with a known truth, read
// back with the project's own definitions of both formats (proto/), and the
// Perfetto golden of the real recording in tests/data.
#include <unistd.h>
#include <zlib.h>

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
#include "perfetto_trace.pb.h"
#include "pprof.pb.h"
#include "recording_synthetic.h"

namespace cgotrace {
namespace {

std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - z.avail_out);
  }
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

class FormatsTest : public testing::SyntheticRecordingTest {
 protected:
  FormatsTest() : SyntheticRecordingTest(11) {}
};

// ---------------------------------------------------------------------------
// pprof

struct DecodedProfile {
  pprof::Profile p;
  std::map<uint64_t, const pprof::Location*> locations;
  std::map<uint64_t, const pprof::Function*> functions;
  const std::string& Str(int64_t i) const { return p.string_table(static_cast<int>(i)); }
  std::string Label(const pprof::Sample& s, const std::string& key) const {
    for (const pprof::Label& l : s.label()) {
      if (Str(l.key()) == key) return Str(l.str());
    }
    return "";
  }
  // Frame names of a sample, outermost first.
  std::vector<std::string> Frames(const pprof::Sample& s) const {
    std::vector<std::string> out;
    for (int i = s.location_id_size(); i-- > 0;) {
      const pprof::Location* loc = locations.at(s.location_id(i));
      EXPECT_EQ(loc->line_size(), 1);
      out.push_back(Str(functions.at(loc->line(0).function_id())->name()));
    }
    return out;
  }
};

DecodedProfile Decode(const std::string& gz) {
  DecodedProfile d;
  EXPECT_TRUE(d.p.ParseFromString(Gunzip(gz)));
  for (const pprof::Location& l : d.p.location()) d.locations[l.id()] = &l;
  for (const pprof::Function& f : d.p.function()) d.functions[f.id()] = &f;
  return d;
}

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

struct Slice {
  uint32_t pid = 0;
  std::string track;
  std::string name;
  uint64_t start = 0, end = 0;
  uint64_t tid = 0;
  std::string stack;
  std::string parent;  // name of the enclosing slice on its track
};

// Replays the packets as trace_processor does: incremental timestamps,
// interning, slice stacks per track.
struct DecodedTrace {
  std::vector<Slice> slices;
  std::map<uint64_t, std::string> track_names;
  std::map<uint64_t, uint32_t> track_pid;
  std::map<uint64_t, std::string> process_names;
  uint32_t unbalanced = 0;
};

DecodedTrace DecodeTrace(const std::string& bytes) {
  DecodedTrace out;
  perfetto::Trace trace;
  EXPECT_TRUE(trace.ParseFromString(bytes));
  EXPECT_GT(trace.packet_size(), 0);
  std::map<uint64_t, std::string> names, annotation_names, strings;
  std::map<uint64_t, uint32_t> process_pid;  // process track uuid -> pid
  std::map<uint64_t, std::vector<Slice>> open;
  uint64_t now = 0;
  uint32_t default_clock = 0;
  for (int i = 0; i < trace.packet_size(); ++i) {
    const perfetto::TracePacket& p = trace.packet(i);
    EXPECT_EQ(p.trusted_packet_sequence_id(), 1u);
    if (i == 0) {
      EXPECT_TRUE(p.first_packet_on_sequence());
      EXPECT_EQ(p.sequence_flags(), 1u);
      bool incremental = false;
      for (const auto& c : p.clock_snapshot().clocks()) {
        if (c.clock_id() == 64) {
          incremental = c.is_incremental();
          EXPECT_EQ(c.timestamp(), p.timestamp());
        }
      }
      EXPECT_TRUE(incremental);
      default_clock = p.trace_packet_defaults().timestamp_clock_id();
      EXPECT_EQ(default_clock, 64u);
      now = p.timestamp();
    } else {
      EXPECT_TRUE(p.has_timestamp());
      EXPECT_FALSE(p.has_timestamp_clock_id());
      now += p.timestamp();
    }
    for (const auto& n : p.interned_data().event_names()) names[n.iid()] = n.name();
    for (const auto& n : p.interned_data().debug_annotation_names()) {
      annotation_names[n.iid()] = n.name();
    }
    for (const auto& s : p.interned_data().debug_annotation_string_values()) {
      strings[s.iid()] = s.str();
    }
    if (p.has_track_descriptor()) {
      const perfetto::TrackDescriptor& d = p.track_descriptor();
      if (d.has_process()) {
        process_pid[d.uuid()] = static_cast<uint32_t>(d.process().pid());
        out.process_names[d.uuid()] = d.process().process_name();
      } else {
        EXPECT_TRUE(process_pid.count(d.parent_uuid())) << d.name();
        out.track_names[d.uuid()] = d.name();
        out.track_pid[d.uuid()] = process_pid[d.parent_uuid()];
      }
    }
    if (!p.has_track_event()) continue;
    const perfetto::TrackEvent& te = p.track_event();
    EXPECT_EQ(p.sequence_flags(), 2u);
    EXPECT_TRUE(out.track_names.count(te.track_uuid())) << te.track_uuid();
    std::vector<Slice>& stack = open[te.track_uuid()];
    if (te.type() == perfetto::TrackEvent::TYPE_SLICE_BEGIN) {
      Slice s;
      s.pid = out.track_pid[te.track_uuid()];
      s.track = out.track_names[te.track_uuid()];
      EXPECT_TRUE(names.count(te.name_iid())) << te.name_iid();
      s.name = names[te.name_iid()];
      s.start = now;
      s.parent = stack.empty() ? "" : stack.back().name;
      for (const auto& a : te.debug_annotations()) {
        const std::string& an = annotation_names[a.name_iid()];
        if (an == "tid") s.tid = a.uint_value();
        if (an == "stack") s.stack = strings[a.string_value_iid()];
      }
      stack.push_back(s);
    } else if (te.type() == perfetto::TrackEvent::TYPE_SLICE_END) {
      if (stack.empty()) {
        ++out.unbalanced;
        continue;
      }
      Slice s = stack.back();
      stack.pop_back();
      s.end = now;
      out.slices.push_back(s);
    }
  }
  for (const auto& [uuid, stack] : open) out.unbalanced += static_cast<uint32_t>(stack.size());
  return out;
}

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
