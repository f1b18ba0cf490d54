// Sampling without BPF: the layout facts decoded from real binaries (g's TLS
// slot, cgocall's frame), the iterator stream decoder, and call tracking.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include <elf.h>

#include <algorithm>
#include <optional>
#include <set>

#include "../matrix/matrix_list.h"
#include "binary/go_binary.h"
#include "binary_fixture_util.h"
#include "cgotrace_sample_abi.h"
#include "elf/elf_file.h"
#include "gofile/go_buildinfo.h"
#include "gofile/go_pclntab.h"
#include "offsets/go_offsets.h"
#include "offsets/go_sample_layout.h"
#include "sample/call_tracker.h"
#include "sample/sampler.h"
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

// The ELF TLS ABI's answer for an arm64 executable, independent of any
// instruction: variant I puts a 16-byte TCB at tpidr_el0 and the
// executable's TLS block right after it, aligned to PT_TLS's p_align; g's
// slot is the STT_TLS symbol runtime.tls_g within that block.
std::optional<int64_t> Arm64TlsGFromElf(const ElfFile& elf) {
  const ElfSymbol* sym = elf.FindSymbol("runtime.tls_g");
  std::span<const uint8_t> b = elf.bytes();
  if (sym == nullptr || b.size() < sizeof(Elf64_Ehdr)) return std::nullopt;
  Elf64_Ehdr eh;
  std::memcpy(&eh, b.data(), sizeof(eh));
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    const size_t at = eh.e_phoff + size_t{i} * eh.e_phentsize;
    if (at + sizeof(ph) > b.size()) return std::nullopt;
    std::memcpy(&ph, b.data() + at, sizeof(ph));
    if (ph.p_type == PT_TLS) {
      const uint64_t align = std::max<uint64_t>(ph.p_align, 1);
      const uint64_t tcb = (16 + align - 1) / align * align;
      return static_cast<int64_t>(tcb + sym->value);
    }
  }
  return std::nullopt;
}

// Every arm64 binary the build made: the fixture and the matrix's (go1.26
// and go1.17.13, built by tests/matrix/build-fixture.sh with GOARCH=arm64).
std::vector<matrix::Entry> Arm64Binaries() {
  std::vector<matrix::Entry> out;
  matrix::Entry fixture;
  fixture.version = "fixture";
  fixture.arch = "arm64";
  fixture.path = FixturePath("cgocalls-arm64");
  out.push_back(fixture);
  for (const matrix::Entry& e : matrix::TheList().entries) {
    if (e.arch == "arm64" && e.Supported()) out.push_back(e);
  }
  return out;
}

TEST(GTlsSlotTest, Arm64SlotIsDecodedFromLoadGAndMatchesTheElfTlsLayout) {
  ASSERT_TRUE(matrix::TheList().error.empty()) << matrix::TheList().error;
  std::vector<matrix::Entry> bins = Arm64Binaries();
  std::set<int> minors;
  for (const matrix::Entry& e : bins) minors.insert(e.minor);
  // Both sides of the go1.23 syscallbp change are covered.
  ASSERT_TRUE(minors.contains(17)) << "no go1.17 arm64 binary in the matrix list";
  for (const matrix::Entry& e : bins) {
    SCOPED_TRACE(e.Describe());
    Analysed a = Open(e.path);
    ASSERT_NE(a.elf, nullptr);
    ASSERT_EQ(a.elf->arch(), Arch::kArm64);
    std::optional<int64_t> want = Arm64TlsGFromElf(*a.elf);
    ASSERT_TRUE(want) << "no runtime.tls_g / PT_TLS";
    auto slot = FindGTlsSlot(*a.elf, a.pclntab);
    ASSERT_TRUE(slot.ok()) << slot.error().message;
    EXPECT_EQ(slot->offset, *want);
    EXPECT_EQ(slot->witnesses, 2u) << "runtime.load_g and runtime.save_g";

    // The whole sampling configuration: offsets as DWARF has them, and for
    // releases without g.syscallbp cgocall's frame pointer 8 bytes below
    // its stack pointer (str x30, [sp, #-N]!; stur x29, [sp, #-8]; sub x29, sp, #8).
    auto bin = GoBinary::Analyze(e.path);
    ASSERT_TRUE(bin.ok()) << bin.error().message;
    auto cfg = MakeSampleConfig(**bin);
    ASSERT_TRUE(cfg.ok()) << cfg.error().message;
    auto dwarf = RuntimeOffsets::FromDwarf(*a.elf);
    ASSERT_TRUE(dwarf.ok()) << dwarf.error().message;
    EXPECT_EQ(static_cast<int64_t>(cfg->tls_g), *want);
    EXPECT_EQ(cfg->g_m, dwarf->g_m);
    EXPECT_EQ(cfg->g_goid, dwarf->g_goid);
    EXPECT_EQ(cfg->g_syscallsp, dwarf->g_syscallsp);
    EXPECT_EQ(cfg->g_syscallpc, dwarf->g_syscallpc);
    EXPECT_EQ(cfg->m_curg, dwarf->m_curg);
    EXPECT_EQ(cfg->m_incgo, dwarf->m_incgo);
    EXPECT_EQ(cfg->m_ncgocall, dwarf->m_ncgocall);
    EXPECT_EQ(cfg->m_g0, dwarf->m_g0);
    if (dwarf->g_syscallbp == RuntimeOffsets::kAbsent) {
      EXPECT_EQ(cfg->g_syscallbp, 0u);
      EXPECT_EQ(cfg->cgocall_bp, -8);
    } else {
      EXPECT_EQ(cfg->g_syscallbp, dwarf->g_syscallbp);
    }
  }
}

TEST(CgocallFrameTest, Arm64PrologueKeepsTheFrameRecordBelowSp) {
  // str x30, [sp, #-64]!; stur x29, [sp, #-8]; sub x29, sp, #8; bl
  const std::vector<uint8_t> code = {0xfe, 0x0f, 0x1c, 0xf8, 0xfd, 0x83, 0x1f, 0xf8,
                                     0xfd, 0x23, 0x00, 0xd1, 0x00, 0x00, 0x00, 0x94};
  auto off = CgocallFramePointerOffset(Arch::kArm64, 0x1000, code);
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(*off, -8);
}

TEST(CgocallFrameTest, Go121PrologueWithPushRbp) {
  // cmp rsp,[r14+0x10]; jbe; push rbp; mov rbp,rsp; sub rsp,0x18; call
  const std::vector<uint8_t> code = {0x49, 0x3b, 0x66, 0x10, 0x76, 0x20, 0x55, 0x48, 0x89, 0xe5,
                                     0x48, 0x83, 0xec, 0x18, 0xe8, 0,    0,    0,    0};
  auto off = CgocallFramePointerOffset(Arch::kX86_64, 0x1000, code);
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(*off, 0x18);
}

TEST(CgocallFrameTest, Go117PrologueWithLeaRbp) {
  // sub rsp,0x30; mov [rsp+0x28],rbp; lea rbp,[rsp+0x28]; call
  const std::vector<uint8_t> code = {0x48, 0x83, 0xec, 0x30, 0x48, 0x89, 0x6c, 0x24, 0x28, 0x48,
                                     0x8d, 0x6c, 0x24, 0x28, 0xe8, 0,    0,    0,    0};
  auto off = CgocallFramePointerOffset(Arch::kX86_64, 0x1000, code);
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(*off, 0x28);
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
