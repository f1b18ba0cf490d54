// The recording file: writer -> reader round trip, files cut at any byte
// (kill -9, full disk), and corrupt or foreign files.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cgotrace/recording.h"
#include "recording_synthetic.h"

namespace cgotrace {
namespace {

using testing::FixedHeader;
using testing::MakeSynthetic;
using testing::Synthetic;

class TempFiles {
 public:
  TempFiles() {
    char tmpl[] = "/tmp/cgotrace-recording-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~TempFiles() { std::system(("rm -rf " + dir_).c_str()); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct Written {
  uint64_t header_end = 0;             // bytes after Create()
  std::vector<uint64_t> batch_ends;    // file size after each batch
  std::vector<uint64_t> batch_events;  // events in the file up to then
  uint64_t size = 0;
};

Written WriteRecording(const std::string& path, const Synthetic& s, uint32_t batch) {
  Written w;
  auto writer = RecordingWriter::Create(path, FixedHeader(batch));
  EXPECT_TRUE(writer.ok()) << writer.error().message;
  w.header_end = (*writer)->bytes_written();
  for (const CgoEvent& ev : s.events) {
    auto r = (*writer)->Add(ev);
    EXPECT_TRUE(r.ok()) << r.error().message;
    if ((*writer)->events() % batch == 0) {
      w.batch_ends.push_back((*writer)->bytes_written());
      w.batch_events.push_back((*writer)->events());
    }
  }
  EXPECT_TRUE((*writer)->Flush().ok());
  if (w.batch_events.empty() || w.batch_events.back() != (*writer)->events()) {
    w.batch_ends.push_back((*writer)->bytes_written());
    w.batch_events.push_back((*writer)->events());
  }
  (*writer)->SetLost(7);
  auto r = (*writer)->Finish(RecordingTrailer{.lost = 7, .exit_status = 3});
  EXPECT_TRUE(r.ok()) << r.error().message;
  w.size = (*writer)->bytes_written();
  return w;
}

void ExpectSameEvent(const CgoEvent& want, const CgoEvent& got, size_t i) {
  EXPECT_EQ(want.kind, got.kind) << i;
  EXPECT_EQ(want.pid, got.pid) << i;
  EXPECT_EQ(want.tid, got.tid) << i;
  EXPECT_EQ(want.goid, got.goid) << i;
  EXPECT_EQ(want.func, got.func) << i;
  EXPECT_EQ(want.comm, got.comm) << i;
  EXPECT_EQ(want.binary_path, got.binary_path) << i;
  EXPECT_EQ(want.start_ns, got.start_ns) << i;
  EXPECT_EQ(want.duration_ns, got.duration_ns) << i;
  EXPECT_EQ(want.c_ns, got.c_ns) << i;
  EXPECT_EQ(want.sched_ns, got.sched_ns) << i;
  EXPECT_EQ(want.stack_depth, got.stack_depth) << i;
  EXPECT_EQ(want.frames, got.frames) << i;
}

// Reads every event; the reader must not fail.
std::vector<CgoEvent> ReadEvents(RecordingReader& r) {
  std::vector<CgoEvent> out;
  std::vector<RecordedEvent> batch;
  for (;;) {
    auto more = r.NextBatch(&batch);
    EXPECT_TRUE(more.ok()) << more.error().message;
    if (!more.ok() || !*more) {
      return out;
    }
    for (const RecordedEvent& e : batch) {
      out.push_back(r.ToCgoEvent(e));
    }
  }
}

TEST(RecordingFormat, RoundTripKeepsEveryEventAndTheHeader) {
  TempFiles tmp;
  const Synthetic s = MakeSynthetic(5, 300);
  const Written w = WriteRecording(tmp.Path("r.cgotrace"), s, 128);
  EXPECT_EQ(ReadAll(tmp.Path("r.cgotrace")).size(), w.size);

  auto reader = RecordingReader::Open(tmp.Path("r.cgotrace"));
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  const RecordingHeader want = FixedHeader(128);
  const RecordingHeader& h = (*reader)->header();
  EXPECT_EQ(h.format_version, kRecordingFormatVersion);
  EXPECT_EQ(h.hostname, want.hostname);
  EXPECT_EQ(h.kernel_release, want.kernel_release);
  EXPECT_EQ(h.machine, want.machine);
  EXPECT_EQ(h.start_realtime_ns, want.start_realtime_ns);
  EXPECT_EQ(h.start_monotonic_ns, want.start_monotonic_ns);
  EXPECT_EQ(h.argv, want.argv);
  EXPECT_EQ(h.targets, want.targets);
  EXPECT_TRUE(h.call_stacks);
  EXPECT_EQ(h.batch_events, 128u);

  const std::vector<CgoEvent> got = ReadEvents(**reader);
  ASSERT_EQ(got.size(), s.events.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ExpectSameEvent(s.events[i], got[i], i);
  }
  EXPECT_FALSE((*reader)->truncated());
  ASSERT_TRUE((*reader)->trailer().has_value());
  EXPECT_EQ((*reader)->trailer()->events, s.events.size());
  EXPECT_EQ((*reader)->trailer()->exit_status, 3);
  EXPECT_EQ((*reader)->lost(), 7u);
  ASSERT_EQ((*reader)->processes().size(), 2u);
  EXPECT_EQ((*reader)->processes()[0].pid, 4242u);
  EXPECT_EQ((*reader)->processes()[1].comm, "other");
}

TEST(RecordingFormat, BreakdownColumnsOnlyInBatchesThatHaveThem) {
  TempFiles tmp;
  Synthetic s = MakeSynthetic(5, 300);
  // Batches of 128: the first without any breakdown, the second with c_ns
  // only (exact mode), the rest with both (--breakdown).
  for (size_t i = 128; i < s.events.size(); ++i) {
    s.events[i].c_ns = 1000 + i;
    s.events[i].sched_ns = i >= 256 ? 7 * i : 0;
  }
  WriteRecording(tmp.Path("r.cgotrace"), s, 128);
  WriteRecording(tmp.Path("plain.cgotrace"), MakeSynthetic(5, 300), 128);
  // The columns are stored (the reader checks their lengths per batch).
  EXPECT_GT(ReadAll(tmp.Path("r.cgotrace")).size(), ReadAll(tmp.Path("plain.cgotrace")).size());

  auto reader = RecordingReader::Open(tmp.Path("r.cgotrace"));
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  const std::vector<CgoEvent> got = ReadEvents(**reader);
  ASSERT_EQ(got.size(), s.events.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ExpectSameEvent(s.events[i], got[i], i);
  }
}

TEST(RecordingFormat, DistinctStacksAreStoredOnce) {
  TempFiles tmp;
  const Synthetic s = MakeSynthetic(3, 400);
  const Written w = WriteRecording(tmp.Path("r.cgotrace"), s, 4096);
  // 1600+ events over three distinct stacks: the frame names cannot be
  // repeated per event in a file this small.
  EXPECT_LT(static_cast<double>(w.size) / static_cast<double>(s.events.size()), 24.0);
  auto loaded = LoadRecording(tmp.Path("r.cgotrace"));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  std::set<uint32_t> stacks;
  for (const RecordedEvent& e : loaded->events) {
    stacks.insert(e.stack);
  }
  // sqlite3_step, call_back_n, odd;name<&> and "none" (fast_add, callbacks).
  EXPECT_EQ(stacks.size(), 4u);
}

// Cuts a recording at many byte offsets: every cut reads as the complete
// batches before it plus a truncation notice, or (inside the header) as a
// clear error.
TEST(RecordingFormat, FileCutAnywhereKeepsEveryCompleteBatch) {
  TempFiles tmp;
  const Synthetic s = MakeSynthetic(4, 100);
  const uint32_t batch = 37;
  const Written w = WriteRecording(tmp.Path("full.cgotrace"), s, batch);
  const std::string full = ReadAll(tmp.Path("full.cgotrace"));
  ASSERT_GT(w.batch_ends.size(), 5u);
  ASSERT_NE(s.events.size() % batch, 0u) << "the last batch should be a partial one";

  std::vector<uint64_t> cuts = {0, 1, 7, 8, 9, w.header_end - 1, w.header_end, w.size - 1};
  for (uint64_t end : w.batch_ends) {
    cuts.insert(cuts.end(), {end - 1, end, end + 1});
  }
  std::mt19937_64 rng(42);
  for (int i = 0; i < 150; ++i) {
    cuts.push_back(rng() % full.size());
  }
  for (uint64_t cut : cuts) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut) + " of " + std::to_string(full.size()));
    const std::string path = tmp.Path("cut.cgotrace");
    WriteAll(path, full.substr(0, cut));
    auto reader = RecordingReader::Open(path);
    if (cut < w.header_end) {
      ASSERT_FALSE(reader.ok());
      const std::string& msg = reader.error().message;
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_TRUE(msg.find("truncated before its header") != std::string::npos ||
                  (cut == 0 && msg.find("is empty") != std::string::npos))
          << msg;
      continue;
    }
    ASSERT_TRUE(reader.ok()) << reader.error().message;
    const std::vector<CgoEvent> got = ReadEvents(**reader);
    const size_t complete = static_cast<size_t>(
        std::upper_bound(w.batch_ends.begin(), w.batch_ends.end(), cut) - w.batch_ends.begin());
    const uint64_t want = complete == 0 ? 0 : w.batch_events[complete - 1];
    ASSERT_EQ(got.size(), want);
    EXPECT_EQ((*reader)->events_read(), want);
    EXPECT_TRUE((*reader)->truncated());
    for (size_t i = 0; i < got.size(); ++i) {
      ExpectSameEvent(s.events[i], got[i], i);
    }
    // Every batch carries the lost count known when it was written.
    EXPECT_EQ((*reader)->lost(), 0u);
  }
}

std::string OpenError(const std::string& path) {
  auto reader = RecordingReader::Open(path);
  if (reader.ok()) {
    std::vector<RecordedEvent> batch;
    for (;;) {
      auto more = (*reader)->NextBatch(&batch);
      if (!more.ok()) {
        return more.error().message;
      }
      if (!*more) {
        return "";
      }
    }
  }
  return reader.error().message;
}

TEST(RecordingFormat, ForeignAndCorruptFilesGiveOneLineErrors) {
  TempFiles tmp;
  const Synthetic s = MakeSynthetic(2, 50);
  const Written w = WriteRecording(tmp.Path("good.cgotrace"), s, 16);
  const std::string good = ReadAll(tmp.Path("good.cgotrace"));
  struct Case {
    std::string name;
    std::string bytes;
    std::string want;
  };
  std::string newer = good;
  newer[8] = 9;
  std::string bad_length = good;
  // The first record after the header: a length of 2^35.
  bad_length.replace(w.header_end, 5, "\x80\x80\x80\x80\x02", 5);
  std::string garbage = good;
  // Keep the record's length, fill its body with an invalid wire type.
  for (uint64_t i = w.header_end + 1; i < w.header_end + 6; ++i) {
    garbage[i] = '\xff';
  }
  std::string no_header = good.substr(0, 9);
  no_header += std::string("\x02\x12\x00", 3);  // a Process record first
  const std::vector<Case> cases = {
      {"text", "hello, this is not a recording\n", "is not a cgotrace recording"},
      {"elf",
       "\x7f"
       "ELF\x02\x01\x01\x00\x00\x00\x00\x00",
       "is not a cgotrace recording"},
      {"empty", "", "is empty"},
      {"newer", newer, "has format version 9, newer than this cgotrace reads (1)"},
      {"version0", good.substr(0, 8) + std::string(1, '\0') + good.substr(9), "format version 0"},
      {"bad-length", bad_length, "is corrupt: record of 536870912 bytes at offset"},
      {"garbage", garbage, "is corrupt: unparsable protobuf in the record at offset"},
      {"no-header", no_header, "is corrupt: no header at offset 9"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = tmp.Path(c.name + ".cgotrace");
    WriteAll(path, c.bytes);
    const std::string msg = OpenError(path);
    EXPECT_NE(msg.find(c.want), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_NE(OpenError(tmp.Path("missing.cgotrace")).find("cannot open"), std::string::npos);
}

TEST(RecordingFormat, WriteErrorsNameTheFile) {
  // /dev/full fails every write with ENOSPC, as a full disk does.
  auto writer = RecordingWriter::Create("/dev/full", FixedHeader(4));
  ASSERT_FALSE(writer.ok());
  EXPECT_NE(writer.error().message.find("writing /dev/full: No space left on device"),
            std::string::npos)
      << writer.error().message;
  auto dir = RecordingWriter::Create("/nonexistent-dir/x.cgotrace", FixedHeader(4));
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find("cannot create /nonexistent-dir/x.cgotrace"),
            std::string::npos);
}

}  // namespace
}  // namespace cgotrace
