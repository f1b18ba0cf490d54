// The site table and planner on decoded instruction sequences and on real
// fixture binaries; the BPF limits userspace checks before attaching.
#include "binary/site_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "binary/go_binary.h"
#include "binary_fixture_util.h"
#include "trace/site_attach.h"

namespace cgotrace {
namespace {

using testing::HasSubstr;
constexpr uint64_t kBase = 0x401000;

SiteCost X86(std::vector<uint8_t> bytes) { return ClassifyInstruction(Arch::kX86_64, bytes); }

TEST(SiteCostTest, X86KernelPaths) {
  EXPECT_EQ(X86({0x0f, 0x1f, 0x44, 0x00, 0x00}), SiteCost::kOptimizedNop);
  EXPECT_EQ(X86({0x0f, 0x1f, 0x40, 0x00}), SiteCost::kEmulated);  // nopl 4 bytes
  EXPECT_EQ(X86({0x90}), SiteCost::kEmulated);
  EXPECT_EQ(X86({0x55}), SiteCost::kEmulated);                          // push rbp
  EXPECT_EQ(X86({0x41, 0x56}), SiteCost::kEmulated);                    // push r14
  EXPECT_EQ(X86({0xe8, 0x10, 0x20, 0x00, 0x00}), SiteCost::kEmulated);  // call rel32
  EXPECT_EQ(X86({0xeb, 0x05}), SiteCost::kEmulated);                    // jmp rel8
  EXPECT_EQ(X86({0x0f, 0x84, 0, 0, 0, 0}), SiteCost::kEmulated);        // je rel32
  EXPECT_EQ(X86({0xc3}), SiteCost::kSingleStep);                        // ret
  EXPECT_EQ(X86({0x5d}), SiteCost::kSingleStep);                        // pop rbp
  EXPECT_EQ(X86({0x48, 0x83, 0xec, 0x30}), SiteCost::kSingleStep);      // sub rsp, 0x30
  EXPECT_EQ(X86({0x48, 0x89, 0xe5}), SiteCost::kSingleStep);            // mov rbp, rsp
}

TEST(SiteCostTest, Arm64KernelPaths) {
  auto arm = [](uint32_t w) {
    std::vector<uint8_t> b = {uint8_t(w), uint8_t(w >> 8), uint8_t(w >> 16), uint8_t(w >> 24)};
    return ClassifyInstruction(Arch::kArm64, b);
  };
  EXPECT_EQ(arm(0xd65f03c0), SiteCost::kEmulated);    // ret
  EXPECT_EQ(arm(0x94000010), SiteCost::kEmulated);    // bl
  EXPECT_EQ(arm(0xf81f0ffe), SiteCost::kSingleStep);  // str x30, [sp, #-16]!
}

TEST(PlaceRuleTest, EntryAndEveryReturn) {
  // push rbp; mov rbp,rsp; je +2; pop rbp; ret; pop rbp; ret; int3
  const std::vector<uint8_t> code = {0x55, 0x48, 0x89, 0xe5, 0x74, 0x02,
                                     0x5d, 0xc3, 0x5d, 0xc3, 0xcc};
  auto insns = DecodeFunction(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(insns.ok()) << insns.error().message;
  std::span<const SiteRule> table = SiteTable(Arch::kX86_64);
  auto entry = PlaceRule(Arch::kX86_64, table[0], 0, kBase, code, *insns);
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  ASSERT_EQ(entry->size(), 1u);
  EXPECT_EQ((*entry)[0].vaddr, kBase);
  EXPECT_EQ((*entry)[0].insn, "push rbp");
  EXPECT_EQ((*entry)[0].bytes_hex, "55");
  EXPECT_EQ((*entry)[0].cost, SiteCost::kEmulated);
  EXPECT_EQ((*entry)[0].function, "runtime.cgocall");

  auto rets = PlaceRule(Arch::kX86_64, table[1], 1, kBase, code, *insns);
  ASSERT_TRUE(rets.ok()) << rets.error().message;
  ASSERT_EQ(rets->size(), 2u);
  EXPECT_EQ((*rets)[0].vaddr, kBase + 7);
  EXPECT_EQ((*rets)[1].vaddr, kBase + 9);
  EXPECT_EQ((*rets)[1].slot, 1u);
  EXPECT_EQ((*rets)[1].cost, SiteCost::kSingleStep);
}

TEST(PlaceRuleTest, NoReturnIsAnError) {
  const std::vector<uint8_t> code = {0x55, 0xeb, 0xfe};  // push rbp; jmp .
  auto insns = DecodeFunction(Arch::kX86_64, kBase, code);
  ASSERT_TRUE(insns.ok());
  auto rets = PlaceRule(Arch::kX86_64, SiteTable(Arch::kX86_64)[1], 1, kBase, code, *insns);
  ASSERT_FALSE(rets.ok());
  EXPECT_THAT(rets.error().message, HasSubstr("runtime.cgocall at 0x401000"));
}

TEST(SiteTableTest, RowsFitTheCookieAndProduceEveryEvent) {
  for (Arch arch : {Arch::kX86_64, Arch::kArm64}) {
    std::span<const SiteRule> table = SiteTable(arch);
    ASSERT_LE(table.size(), static_cast<size_t>(CGT_MAX_SITE_SLOTS));
    std::vector<int> seen(CGT_SE_MAX, 0);
    for (const SiteRule& r : table) {
      ++seen[r.event];
    }
    for (int e = CGT_SE_CALL_START; e < CGT_SE_MAX; ++e) {
      EXPECT_GE(seen[e], 1) << "no site produces event " << e;
    }
  }
}

TEST(SiteTableTest, CallerPcReadOnlyWithoutSymtab) {
  const SiteRule& start = SiteTable(Arch::kX86_64)[0];
  ASSERT_EQ(start.event, CGT_SE_CALL_START);
  EXPECT_EQ(DescriptorFor(start, /*has_symtab=*/true).pc_from, CGT_SRC_NONE);
  cgt_site_desc stripped = DescriptorFor(start, /*has_symtab=*/false);
  EXPECT_EQ(stripped.pc_from, CGT_SRC_SP_WORD);
  EXPECT_EQ(stripped.pc_sp_off, 0u);
  EXPECT_EQ(stripped.fn_from, CGT_SRC_ARG0);
  EXPECT_EQ(SiteTable(Arch::kArm64)[0].pc_from, CGT_SRC_LR);
}

TEST(PlanSitesTest, FixtureBinariesGetEveryRow) {
  for (const char* name : {"cgocalls", "cgocalls-stripped", "cgocalls-pie", "cgocalls-arm64"}) {
    auto bin = GoBinary::Analyze(test::FixturePath(name));
    ASSERT_TRUE(bin.ok()) << bin.error().message;
    auto plan = PlanSites(**bin);
    ASSERT_TRUE(plan.ok()) << plan.error().message;
    std::span<const SiteRule> table = SiteTable((*bin)->elf().arch());
    ASSERT_EQ(plan->descriptors.size(), table.size()) << name;
    std::vector<int> per_slot(table.size(), 0);
    for (const PlannedSite& s : plan->sites) {
      ASSERT_LT(s.slot, table.size());
      ++per_slot[s.slot];
      EXPECT_TRUE((*bin)->elf().VaddrToFileOffset(s.vaddr).ok()) << name;
      EXPECT_GE(s.vaddr, s.function_entry);
    }
    for (size_t slot = 0; slot < table.size(); ++slot) {
      EXPECT_GE(per_slot[slot], 1) << name << " slot " << slot;
      EXPECT_EQ(plan->descriptors[slot].event, table[slot].event);
    }
  }
}

TEST(BinaryConfigTest, OffsetsInsideThePrefixAreAccepted) {
  RuntimeOffsets off;
  off.g_goid = 152;
  off.g_stack_hi = 8;
  auto cfg = BinaryConfigFor("/bin/app", off);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->valid, 1u);
  EXPECT_EQ(cfg->g_goid, 152u);
  EXPECT_EQ(cfg->g_stack_hi, 8u);
  off.g_goid = CGT_G_PREFIX_BYTES - 8;
  EXPECT_TRUE(BinaryConfigFor("/bin/app", off).ok());
}

TEST(BinaryConfigTest, OffsetOutsideThePrefixNamesBinaryFieldAndOffset) {
  RuntimeOffsets off;
  off.g_goid = CGT_G_PREFIX_BYTES;
  off.g_stack_hi = 8;
  off.source = "dwarf";
  auto cfg = BinaryConfigFor("/bin/app", off);
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.error().message, HasSubstr("/bin/app: runtime.g.goid at offset 192"));
  EXPECT_THAT(cfg.error().message, HasSubstr("CGT_G_PREFIX_WORDS"));
  EXPECT_EQ(cfg.error().message.find('\n'), std::string::npos);

  off.g_goid = 152;
  off.g_stack_hi = 12;  // not a word
  cfg = BinaryConfigFor("/bin/app", off);
  ASSERT_FALSE(cfg.ok());
  EXPECT_THAT(cfg.error().message, HasSubstr("runtime.g.stack.hi at offset 12"));
}

}  // namespace
}  // namespace cgotrace
