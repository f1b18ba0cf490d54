#include "binary/probe_sites.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "elf/elf_file.h"
#include "gofile/go_buildinfo.h"

namespace cgotrace {
namespace {

using testing::HasSubstr;

const std::string kFixtureDir = CGOTRACE_FIXTURE_DIR;
constexpr uint64_t kBase = 0x401000;

std::vector<SiteKind> Kinds(const std::vector<ProbeSite>& sites) {
  std::vector<SiteKind> out;
  for (const ProbeSite& s : sites) out.push_back(s.kind);
  return out;
}

TEST(DecodeFunctionX86Test, FrameAndTrailingInt3Padding) {
  // push rbp; mov rbp,rsp; pop rbp; ret; int3 x3 (the Go linker's padding)
  const std::vector<uint8_t> code = {0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3, 0xcc, 0xcc, 0xcc};
  Result<std::vector<InstructionInfo>> insns = DecodeFunction(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(insns.ok()) << insns.error().message;
  ASSERT_EQ(insns->size(), 7u);
  EXPECT_EQ((*insns)[0].text, "push rbp");
  EXPECT_EQ((*insns)[1].text, "mov rbp, rsp");
  EXPECT_EQ((*insns)[1].size, 3u);
  EXPECT_EQ((*insns)[3].vaddr, kBase + 5);
  EXPECT_TRUE((*insns)[3].is_return);
  EXPECT_EQ((*insns)[6].text, "int3");
  EXPECT_EQ((*insns)[6].vaddr, kBase + 8);
  EXPECT_FALSE((*insns)[6].is_return);

  Result<std::vector<ProbeSite>> sites = FindProbeSites(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  ASSERT_EQ(sites->size(), 2u);
  EXPECT_EQ((*sites)[0].kind, SiteKind::kEntry);
  EXPECT_EQ((*sites)[0].vaddr, kBase);
  EXPECT_EQ((*sites)[0].insn, "push rbp");
  EXPECT_EQ((*sites)[0].bytes_hex, "55");
  EXPECT_EQ((*sites)[0].why, "function entry");
  EXPECT_EQ((*sites)[1].kind, SiteKind::kReturn);
  EXPECT_EQ((*sites)[1].vaddr, kBase + 5);
  EXPECT_EQ((*sites)[1].insn, "ret");
  EXPECT_EQ((*sites)[1].bytes_hex, "c3");
  EXPECT_EQ((*sites)[1].why, "return instruction");
}

TEST(FindProbeSitesX86Test, TwoReturns) {
  // test rax,rax; je +1; ret; xor eax,eax; ret
  const std::vector<uint8_t> code = {0x48, 0x85, 0xc0, 0x74, 0x01, 0xc3, 0x31, 0xc0, 0xc3};
  Result<std::vector<ProbeSite>> sites = FindProbeSites(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  EXPECT_EQ(Kinds(*sites),
            (std::vector<SiteKind>{SiteKind::kEntry, SiteKind::kReturn, SiteKind::kReturn}));
  EXPECT_EQ((*sites)[0].insn, "test rax, rax");
  EXPECT_EQ((*sites)[0].bytes_hex, "4885c0");
  EXPECT_EQ((*sites)[1].vaddr, kBase + 5);
  EXPECT_EQ((*sites)[2].vaddr, kBase + 8);
}

TEST(FindProbeSitesX86Test, RetImm16IsReturnRetfIsNot) {
  // push rbp; pop rbp; ret 0x10; retf
  const std::vector<uint8_t> code = {0x55, 0x5d, 0xc2, 0x10, 0x00, 0xcb};
  Result<std::vector<ProbeSite>> sites = FindProbeSites(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  ASSERT_EQ(sites->size(), 2u);
  EXPECT_EQ((*sites)[1].vaddr, kBase + 2);
  EXPECT_EQ((*sites)[1].insn, "ret 0x10");
  EXPECT_EQ((*sites)[1].bytes_hex, "c21000");
}

TEST(DecodeFunctionX86Test, TruncatedInstructionNamesVaddr) {
  // push rbp; then the first two bytes of "mov rbp, rsp"
  const std::vector<uint8_t> code = {0x55, 0x48, 0x89};
  Result<std::vector<InstructionInfo>> insns = DecodeFunction(Arch::kX86_64, kBase, code);
  ASSERT_FALSE(insns.ok());
  EXPECT_THAT(insns.error().message, HasSubstr("0x401001"));
  EXPECT_THAT(insns.error().message, HasSubstr("4889"));
  Result<std::vector<ProbeSite>> sites = FindProbeSites(Arch::kX86_64, kBase, code);
  ASSERT_FALSE(sites.ok());
  EXPECT_THAT(sites.error().message, HasSubstr("0x401001"));
}

TEST(FindProbeSitesX86Test, NoReturnIsAnError) {
  // push rbp; call +0; int3
  const std::vector<uint8_t> code = {0x55, 0xe8, 0x00, 0x00, 0x00, 0x00, 0xcc};
  Result<std::vector<ProbeSite>> sites = FindProbeSites(Arch::kX86_64, kBase, code);
  ASSERT_FALSE(sites.ok());
  EXPECT_THAT(sites.error().message, HasSubstr("no return instruction"));
  EXPECT_THAT(sites.error().message, HasSubstr("0x401000"));
}

TEST(DecodeFunctionTest, EmptyAndUnsupported) {
  EXPECT_FALSE(DecodeFunction(Arch::kX86_64, kBase, {}).ok());
  const std::vector<uint8_t> ret = {0xc3};
  Result<std::vector<InstructionInfo>> other = DecodeFunction(Arch::kOther, kBase, ret);
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.error().message, HasSubstr("architecture"));
}

TEST(FindNop5SitesTest, OnlyWholeFiveByteNops) {
  const std::vector<uint8_t> code = {
      0x0f, 0x1f, 0x44, 0x00, 0x00,        // nop dword ptr [rax+rax]   <- the one
      0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00,  // 6-byte nop
      0x0f, 0x1f, 0x40, 0x00,              // 4-byte nop
      0x48, 0xb8, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00,  // movabs with nop5 bytes
      0x0f, 0x1f, 0x44, 0x00, 0x00,                                // second nop5
      0xc3};
  Result<std::vector<uint64_t>> sites = FindNop5Sites(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  EXPECT_EQ(*sites, (std::vector<uint64_t>{kBase, kBase + 25}));

  const std::vector<uint8_t> arm = {0x1f, 0x20, 0x03, 0xd5, 0xc0, 0x03, 0x5f, 0xd6};
  Result<std::vector<uint64_t>> none = FindNop5Sites(Arch::kArm64, kBase, arm);
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_TRUE(none->empty());
}

TEST(FindProbeSitesArm64Test, TwoReturnsAndZeroPadding) {
  const std::vector<uint8_t> code = {
      0xfe, 0x0f, 0x1c, 0xf8,  // str x30, [sp, #-0x40]!
      0xfd, 0x83, 0x1f, 0xf8,  // stur x29, [sp, #-8]
      0x20, 0x00, 0x5f, 0xd6,  // ret x1
      0x1f, 0x20, 0x03, 0xd5,  // nop
      0xc0, 0x03, 0x5f, 0xd6,  // ret (x30)
      0x00, 0x00, 0x00, 0x00,  // linker padding
      0x00, 0x00, 0x00, 0x00,
  };
  Result<std::vector<InstructionInfo>> insns = DecodeFunction(Arch::kArm64, kBase, code);
  ASSERT_TRUE(insns.ok()) << insns.error().message;
  EXPECT_EQ(insns->size(), 5u);  // padding is not code
  EXPECT_EQ(insns->back().text, "ret");

  Result<std::vector<ProbeSite>> sites = FindProbeSites(Arch::kArm64, kBase, code);
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  ASSERT_EQ(sites->size(), 3u);
  EXPECT_EQ((*sites)[0].insn, "str x30, [sp, #-0x40]!");
  EXPECT_EQ((*sites)[0].bytes_hex, "fe0f1cf8");
  EXPECT_EQ((*sites)[1].vaddr, kBase + 8);
  EXPECT_EQ((*sites)[1].insn, "ret x1");
  EXPECT_EQ((*sites)[2].vaddr, kBase + 16);
  EXPECT_EQ((*sites)[2].insn, "ret");
  EXPECT_EQ((*sites)[2].bytes_hex, "c0035fd6");
}

TEST(DecodeFunctionArm64Test, TruncatedWordNamesVaddr) {
  const std::vector<uint8_t> code = {0xc0, 0x03, 0x5f, 0xd6, 0x1f, 0x20};
  Result<std::vector<InstructionInfo>> insns = DecodeFunction(Arch::kArm64, kBase, code);
  ASSERT_FALSE(insns.ok());
  EXPECT_THAT(insns.error().message, HasSubstr("0x401004"));
}

// capstone 4 predates ARMv8.1 LSE atomics, which Go inlines (CASAL here).
TEST(DecodeFunctionArm64Test, UnknownWordIsSkippedUnlessBranchRegister) {
  const std::vector<uint8_t> lse = {0x41, 0xfc, 0xfb, 0x88, 0xc0, 0x03, 0x5f, 0xd6};
  Result<std::vector<InstructionInfo>> insns = DecodeFunction(Arch::kArm64, kBase, lse);
  ASSERT_TRUE(insns.ok()) << insns.error().message;
  ASSERT_EQ(insns->size(), 2u);
  EXPECT_EQ((*insns)[0].size, 4u);
  EXPECT_FALSE((*insns)[0].is_return);
  EXPECT_TRUE((*insns)[1].is_return);
  EXPECT_EQ((*insns)[1].vaddr, kBase + 4);

  // RETAA: a return capstone 4 cannot decode must not be silently missed.
  const std::vector<uint8_t> retaa = {0x1f, 0x20, 0x03, 0xd5, 0xff, 0x0b, 0x5f, 0xd6};
  Result<std::vector<InstructionInfo>> bad = DecodeFunction(Arch::kArm64, kBase, retaa);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("0x401004"));
}

struct FunctionCode {
  std::unique_ptr<ElfFile> elf;
  const ElfSymbol* sym = nullptr;
  std::span<const uint8_t> code;
};

FunctionCode LoadFunction(const std::string& path, const std::string& name) {
  FunctionCode out;
  Result<std::unique_ptr<ElfFile>> elf = ElfFile::Open(path);
  EXPECT_TRUE(elf.ok()) << (elf.ok() ? "" : elf.error().message);
  if (!elf.ok()) return out;
  out.elf = std::move(elf).value();
  out.sym = out.elf->FindSymbol(name);
  EXPECT_NE(out.sym, nullptr) << name << " not in " << path;
  if (out.sym == nullptr) return out;
  Result<std::span<const uint8_t>> code = out.elf->ReadVaddr(out.sym->value, out.sym->size);
  EXPECT_TRUE(code.ok()) << (code.ok() ? "" : code.error().message);
  if (code.ok()) out.code = *code;
  return out;
}

// runtime.cgocall has exactly one RET on amd64 and arm64 in go1.17..go1.26
// (checked with `go tool objdump -s 'runtime.cgocall$'`); its other exits are
// calls to runtime.throw.
TEST(ProbeSitesFixtureTest, CgocallAmd64) {
  for (const char* name : {"cgocalls", "cgocalls-pie"}) {
    SCOPED_TRACE(name);
    FunctionCode f = LoadFunction(kFixtureDir + "/" + name, "runtime.cgocall");
    ASSERT_FALSE(f.code.empty());
    ASSERT_EQ(f.elf->arch(), Arch::kX86_64);
    Result<std::vector<InstructionInfo>> insns =
        DecodeFunction(Arch::kX86_64, f.sym->value, f.code);
    ASSERT_TRUE(insns.ok()) << insns.error().message;
    uint64_t covered = 0;
    for (const InstructionInfo& i : *insns) covered += i.size;
    EXPECT_EQ(covered, f.sym->size);

    Result<std::vector<ProbeSite>> sites = FindProbeSites(Arch::kX86_64, f.sym->value, f.code);
    ASSERT_TRUE(sites.ok()) << sites.error().message;
    ASSERT_EQ(sites->size(), 2u);
    EXPECT_EQ((*sites)[0].vaddr, f.sym->value);
    const ProbeSite& ret = (*sites)[1];
    EXPECT_EQ(ret.insn, "ret");
    EXPECT_EQ(ret.bytes_hex, "c3");
    EXPECT_GT(ret.vaddr, f.sym->value);
    EXPECT_LT(ret.vaddr, f.sym->value + f.sym->size);

    Result<GoBuildInfo> info = GoBuildInfo::Read(*f.elf);
    ASSERT_TRUE(info.ok()) << info.error().message;
    if (info->version.AtLeast(1, 21)) {
      // Frame-pointer prologue/epilogue of go1.21+; RET right after pop rbp.
      EXPECT_EQ((*sites)[0].insn, "push rbp");
      auto it = std::find_if(insns->begin(), insns->end(),
                             [&](const InstructionInfo& i) { return i.vaddr == ret.vaddr; });
      ASSERT_NE(it, insns->begin());
      EXPECT_EQ(std::prev(it)->text, "pop rbp");
    }
  }
}

TEST(ProbeSitesFixtureTest, CgocallArm64) {
  FunctionCode f = LoadFunction(kFixtureDir + "/cgocalls-arm64", "runtime.cgocall");
  ASSERT_FALSE(f.code.empty());
  ASSERT_EQ(f.elf->arch(), Arch::kArm64);
  Result<std::vector<ProbeSite>> sites = FindProbeSites(Arch::kArm64, f.sym->value, f.code);
  ASSERT_TRUE(sites.ok()) << sites.error().message;
  ASSERT_EQ(sites->size(), 2u);
  // Go's arm64 prologue saves the link register with a pre-indexed store.
  EXPECT_THAT((*sites)[0].insn, testing::StartsWith("str x30, [sp, #-"));
  EXPECT_EQ((*sites)[1].insn, "ret");
  EXPECT_EQ((*sites)[1].bytes_hex, "c0035fd6");
  EXPECT_EQ((*sites)[1].vaddr % 4, 0u);
  EXPECT_LT((*sites)[1].vaddr, f.sym->value + f.sym->size);
}

}  // namespace
}  // namespace cgotrace
