// Sampling without BPF: the layout facts decoded from real binaries (g's TLS
// slot, cgocall's frame), the iterator stream decoder, and call tracking.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "binary_fixture_util.h"
#include "cgotrace_sample_abi.h"
#include "elf/elf_file.h"
#include "gofile/go_buildinfo.h"
#include "gofile/go_pclntab.h"
#include "offsets/go_sample_layout.h"
#include "sample/call_tracker.h"
#include "sample/thread_sample.h"

namespace cgotrace {
namespace {

using test::FixturePath;
using testing::HasSubstr;

// Independent of capstone: the encoding of `mov r14, qword ptr fs:[disp32]`
// (64 4c 8b 34 25 disp32), the form internally linked binaries use, in Go
// functions (C code may use r14 for its own TLS reads, e.g. glibc's fs:0x10).
std::vector<int32_t> RawFsLoadsIntoR14(const ElfFile& elf, const GoPclntab& pclntab) {
  std::vector<int32_t> out;
  static const uint8_t kPrefix[] = {0x64, 0x4c, 0x8b, 0x34, 0x25};
  for (const GoFunc& f : pclntab.funcs()) {
    auto data = elf.ReadVaddr(f.entry, f.end - f.entry);
    if (!data) continue;
    for (size_t i = 0; i + sizeof(kPrefix) + 4 <= data->size(); ++i) {
      if (std::memcmp(data->data() + i, kPrefix, sizeof(kPrefix)) == 0) {
        int32_t disp;
        std::memcpy(&disp, data->data() + i + sizeof(kPrefix), sizeof(disp));
        out.push_back(disp);
      }
    }
  }
  return out;
}

struct Analysed {
  std::unique_ptr<ElfFile> elf;
  GoPclntab pclntab;
};

Analysed Open(const std::string& path) {
  Analysed a;
  auto elf = ElfFile::Open(path);
  EXPECT_TRUE(elf.ok()) << (elf.ok() ? "" : elf.error().message);
  if (!elf.ok()) return a;
  a.elf = std::move(*elf);
  auto pcln = GoPclntab::Read(*a.elf);
  EXPECT_TRUE(pcln.ok()) << (pcln.ok() ? "" : pcln.error().message);
  if (pcln.ok()) a.pclntab = std::move(*pcln);
  return a;
}

TEST(GTlsSlotTest, InternalFormMatchesTheRawInstructions) {
  std::vector<std::string> paths = {FixturePath("cgocalls"), FixturePath("incgo"),
                                    FixturePath("incgo-stripped")};
  // The static link has C TLS of its own below g's slot (matrix build).
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(CGOTRACE_FIXTURE_DIR).parent_path() / "matrix")) {
    std::filesystem::path p = entry.path() / "static" / "cgocalls";
    if (std::filesystem::exists(p)) paths.push_back(p);
  }
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    Analysed a = Open(path);
    ASSERT_NE(a.elf, nullptr);
    std::vector<int32_t> raw = RawFsLoadsIntoR14(*a.elf, a.pclntab);
    ASSERT_FALSE(raw.empty()) << "no mov r14, fs:[disp32] in .text";
    auto slot = FindGTlsSlot(*a.elf, a.pclntab);
    ASSERT_TRUE(slot.ok()) << slot.error().message;
    EXPECT_EQ(slot->offset, raw.front());
    EXPECT_GE(slot->witnesses, 16u);
    for (int32_t d : raw) EXPECT_EQ(d, raw.front()) << "the binary disagrees with itself";
  }
}

TEST(GTlsSlotTest, PieLoadsTheOffsetIntoARegisterFirst) {
  // PIE: mov r14, -8 ; mov r14, qword ptr fs:[r14] (no fs:[disp32] form).
  Analysed a = Open(FixturePath("incgo-pie"));
  ASSERT_NE(a.elf, nullptr);
  EXPECT_TRUE(RawFsLoadsIntoR14(*a.elf, a.pclntab).empty());
  auto slot = FindGTlsSlot(*a.elf, a.pclntab);
  ASSERT_TRUE(slot.ok()) << slot.error().message;
  EXPECT_EQ(slot->offset, -8);
}

TEST(GTlsSlotTest, Arm64IsRefusedClearly) {
  Analysed a = Open(FixturePath("cgocalls-arm64"));
  ASSERT_NE(a.elf, nullptr);
  auto slot = FindGTlsSlot(*a.elf, a.pclntab);
  ASSERT_FALSE(slot.ok());
  EXPECT_THAT(slot.error().message, HasSubstr("x86-64 only"));
  EXPECT_THAT(slot.error().message, HasSubstr("cgocalls-arm64"));
}

TEST(CgocallFrameTest, Go121PrologueWithPushRbp) {
  // cmp rsp,[r14+0x10]; jbe; push rbp; mov rbp,rsp; sub rsp,0x18; call
  const std::vector<uint8_t> code = {0x49, 0x3b, 0x66, 0x10, 0x76, 0x20, 0x55, 0x48, 0x89, 0xe5,
                                     0x48, 0x83, 0xec, 0x18, 0xe8, 0,    0,    0,    0};
  auto off = CgocallFramePointerOffset(Arch::kX86_64, 0x1000, code);
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(*off, 0x18u);
}

TEST(CgocallFrameTest, Go117PrologueWithLeaRbp) {
  // sub rsp,0x30; mov [rsp+0x28],rbp; lea rbp,[rsp+0x28]; call
  const std::vector<uint8_t> code = {0x48, 0x83, 0xec, 0x30, 0x48, 0x89, 0x6c, 0x24, 0x28, 0x48,
                                     0x8d, 0x6c, 0x24, 0x28, 0xe8, 0,    0,    0,    0};
  auto off = CgocallFramePointerOffset(Arch::kX86_64, 0x1000, code);
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(*off, 0x28u);
}

TEST(CgocallFrameTest, NoFramePointerIsAnError) {
  const std::vector<uint8_t> code = {0x48, 0x83, 0xec, 0x30, 0xe8, 0, 0, 0, 0};
  auto off = CgocallFramePointerOffset(Arch::kX86_64, 0x1000, code);
  ASSERT_FALSE(off.ok());
  EXPECT_THAT(off.error().message, HasSubstr("0x1000"));
}

std::vector<uint8_t> Stream(const std::vector<std::pair<cgt_sample, std::vector<uint64_t>>>& in) {
  std::vector<uint8_t> out;
  for (const auto& [s, frames] : in) {
    const auto* p = reinterpret_cast<const uint8_t*>(&s);
    out.insert(out.end(), p, p + sizeof(s));
    const auto* f = reinterpret_cast<const uint8_t*>(frames.data());
    out.insert(out.end(), f, f + frames.size() * sizeof(uint64_t));
  }
  return out;
}

TEST(DecodeSamplesTest, SamplesWithAndWithoutFrames) {
  cgt_sample a{};
  a.pid = 10;
  a.tid = 11;
  a.flags = CGT_SAMPLE_GO | CGT_SAMPLE_IN_C | CGT_SAMPLE_RUNNING;
  a.n_c_frames = 2;
  a.n_go_frames = 1;
  a.goid = 42;
  a.stack_hi = 0xc000100000;
  a.syscallsp = 0xc0000fff00;
  cgt_sample b{};
  b.pid = 10;
  b.tid = 12;
  b.flags = CGT_SAMPLE_GO;
  auto got = DecodeSamples(Stream({{a, {1, 2, 3}}, {b, {}}}));
  ASSERT_TRUE(got.ok()) << got.error().message;
  ASSERT_EQ(got->size(), 2u);
  const ThreadSample& s = (*got)[0];
  EXPECT_TRUE(s.in_c);
  EXPECT_TRUE(s.runnable);
  EXPECT_FALSE(s.on_cpu);
  EXPECT_STREQ(s.state(), "runnable");
  EXPECT_EQ(s.goid, 42u);
  EXPECT_EQ(s.c_frames, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(s.go_frames, (std::vector<uint64_t>{3}));
  EXPECT_EQ(s.stack_depth(), 0x100u);
  EXPECT_FALSE((*got)[1].in_c);
  EXPECT_STREQ((*got)[1].state(), "blocked");
}

TEST(DecodeSamplesTest, TruncatedStreamIsAnError) {
  cgt_sample a{};
  a.tid = 7;
  a.n_c_frames = 3;
  std::vector<uint8_t> bytes = Stream({{a, {1, 2, 3}}});
  bytes.resize(bytes.size() - 8);
  auto got = DecodeSamples(bytes);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr("thread 7"));
  a.n_c_frames = CGT_SAMPLE_C_DEPTH + 1;
  EXPECT_FALSE(DecodeSamples(Stream({{a, {}}})).ok());
}

ThreadSample InC(uint32_t tid, uint64_t goid, uint64_t ncgocall, uint64_t t) {
  ThreadSample s;
  s.tid = tid;
  s.goid = goid;
  s.in_c = true;
  s.ncgocall = ncgocall;
  s.time_ns = t;
  return s;
}

ThreadSample InGo(uint32_t tid, uint64_t t) {
  ThreadSample s;
  s.tid = tid;
  s.time_ns = t;
  return s;
}

TEST(CallTrackerTest, CallsRunningAtAttachAreLowerBounds) {
  CallTracker tr;
  tr.Update({InC(1, 5, 100, 1000), InGo(2, 1000)});
  ASSERT_NE(tr.Find(1), nullptr);
  EXPECT_FALSE(tr.Find(1)->exact);
  EXPECT_EQ(tr.Find(1)->first_seen_ns, 1000u);
  EXPECT_EQ(tr.Find(2), nullptr);
  // Same call later: still the first sighting, still a lower bound.
  tr.Update({InC(1, 5, 100, 2000), InGo(2, 2000)});
  EXPECT_EQ(tr.Find(1)->first_seen_ns, 1000u);
  EXPECT_FALSE(tr.Find(1)->exact);
}

TEST(CallTrackerTest, ANewCallIsToldApartByNcgocall) {
  CallTracker tr;
  tr.Update({InC(1, 5, 100, 1000), InGo(2, 1000)});
  // Thread 1 made another call to (maybe) the same function between
  // samples; thread 2 entered C; thread 3 is new.
  tr.Update({InC(1, 5, 101, 2000), InC(2, 6, 7, 2000), InC(3, 8, 1, 2000)});
  for (uint32_t tid : {1u, 2u, 3u}) {
    SCOPED_TRACE(tid);
    ASSERT_NE(tr.Find(tid), nullptr);
    EXPECT_TRUE(tr.Find(tid)->exact);
    EXPECT_EQ(tr.Find(tid)->first_seen_ns, 2000u);
  }
  // A different goroutine on the same thread with the same count (the M
  // switched goroutines in between) is a different call too.
  tr.Update({InC(1, 9, 101, 3000)});
  EXPECT_EQ(tr.Find(1)->first_seen_ns, 3000u);
  EXPECT_EQ(tr.Find(2), nullptr);  // thread gone
}

}  // namespace
}  // namespace cgotrace
