// Instruction shapes the planner reads from capstone's text, and the arm64
// call-site plan they give on the real arm64 fixture (go1.26, cross-built).
#include "binary/insn_shapes.h"

#include <gtest/gtest.h>

#include <string>

#include "binary/go_binary.h"
#include "binary/site_plan.h"
#include "binary_fixture_util.h"

namespace cgotrace {
namespace {

InstructionInfo I(std::string text, uint64_t vaddr = 0x1000) {
  InstructionInfo insn;
  insn.vaddr = vaddr;
  insn.size = 4;
  insn.is_return = text == "ret";
  insn.text = std::move(text);
  return insn;
}

TEST(InsnShapesTest, Arm64Branches) {
  constexpr Arch a = Arch::kArm64;
  EXPECT_TRUE(IsCall(a, I("bl #0x478210")));
  EXPECT_TRUE(IsCall(a, I("blr x1")));
  EXPECT_FALSE(IsJump(a, I("bl #0x478210")));
  EXPECT_EQ(DirectTarget(a, I("bl #0x478210")), 0x478210u);
  EXPECT_EQ(DirectTarget(a, I("b.ne #0x404e68")), 0x404e68u);
  EXPECT_EQ(DirectTarget(a, I("tbz w2, #0, #0xadb48")), 0xadb48u);
  EXPECT_EQ(DirectTarget(a, I("cbz x0, #0xadb38")), 0xadb38u);
  EXPECT_FALSE(DirectTarget(a, I("blr x1")).has_value());
  EXPECT_FALSE(DirectTarget(a, I("br x27")).has_value());
  EXPECT_FALSE(DirectTarget(a, I("add x1, x1, #0x1")).has_value());
  for (const char* j : {"b #0x10", "b.ls #0x10", "cbnz w5, #0x10", "tbnz w1, #0, #0x10", "br x1"}) {
    EXPECT_TRUE(IsJump(a, I(j))) << j;
  }
  EXPECT_TRUE(IsTrap(a, I("udf #0")));
  EXPECT_TRUE(IsTrap(a, I("brk #0x5")));
  EXPECT_TRUE(IsTrap(a, I(".inst 0x00000000")));
  EXPECT_TRUE(IsNop(a, I("nop")));
}

TEST(InsnShapesTest, Arm64StackPointerWrites) {
  constexpr Arch a = Arch::kArm64;
  for (const char* w :
       {"str x30, [sp, #-0x40]!", "ldr x30, [sp], #0x40", "ldp x29, x30, [sp], #0x10",
        "add sp, sp, #0x10", "sub sp, sp, #0x20", "mov sp, x20", "ret"}) {
    EXPECT_TRUE(ChangesSp(a, I(w))) << w;
  }
  for (const char* r : {"stur x29, [sp, #-8]", "sub x29, sp, #8", "ldr x0, [sp, #0x48]",
                        "stp x0, x1, [sp, #8]", "ldur x29, [sp, #-8]", "mov x2, sp"}) {
    EXPECT_FALSE(ChangesSp(a, I(r))) << r;
  }
}

TEST(InsnShapesTest, Arm64PrologueFrames) {
  constexpr Arch a = Arch::kArm64;
  std::vector<InstructionInfo> small = {I("str x30, [sp, #-0x40]!"), I("stur x29, [sp, #-8]"),
                                        I("sub x29, sp, #8"), I("ldr x0, [sp, #0x48]"),
                                        I("bl #0x2000")};
  EXPECT_EQ(*FrameAt(a, small, 4), 0x40);
  std::vector<InstructionInfo> large = {
      I("ldr x16, [x28, #0x10]"), I("sub x17, sp, #0x1b0"), I("cmp x17, x16"),
      I("b.ls #0x3000"),          I("sub x20, sp, #0x1b0"), I("stp x29, x30, [x20, #-8]"),
      I("mov sp, x20"),           I("sub x29, sp, #8"),     I("bl #0x2000")};
  EXPECT_EQ(*FrameAt(a, large, 8), 0x1b0);
  std::vector<InstructionInfo> moved = {I("str x30, [sp, #-0x40]!"), I("sub sp, sp, #0x10"),
                                        I("bl #0x2000")};
  auto r = FrameAt(a, moved, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("sub sp, sp, #0x10"), std::string::npos) << r.error().message;
}

TEST(InsnShapesTest, X86ShapesUnchanged) {
  constexpr Arch x = Arch::kX86_64;
  EXPECT_EQ(DirectTarget(x, I("call 0x4810e0")), 0x4810e0u);
  EXPECT_EQ(DirectTarget(x, I("jbe 0x401020")), 0x401020u);
  EXPECT_FALSE(DirectTarget(x, I("call qword ptr [rax]")).has_value());
  EXPECT_TRUE(ChangesSp(x, I("push rbp")));
  EXPECT_FALSE(ChangesSp(x, I("cmp rsp, qword ptr [r14 + 0x10]")));
  std::vector<InstructionInfo> f = {I("push rbp"), I("mov rbp, rsp"), I("sub rsp, 0x28"),
                                    I("call 0x2000")};
  EXPECT_EQ(*FrameAt(x, f, 3), 0x30);
}

// The arm64 fixture (go1.26): every default site is a BL or branch the
// kernel simulates, none is a fallback, and the start sites read fn and the
// caller's PC where cgocall's frame has them.
TEST(Arm64PlanTest, EverySiteIsASimulatedCall) {
  auto bin = GoBinary::Analyze(test::FixturePath("cgocalls-arm64"));
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  auto plan = PlanSites(**bin);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->sites.size(), 4u);
  for (const PlannedSite& s : plan->sites) {
    EXPECT_FALSE(s.fallback) << s.why << ": " << s.not_preferred;
    EXPECT_EQ(s.cost, SiteCost::kEmulated) << s.why << " at " << s.insn;
    const cgt_site_desc& d = plan->descriptors[s.slot];
    if (d.event == CGT_SE_CALL_START) {
      EXPECT_TRUE(s.insn.starts_with("bl ")) << s.insn;
      EXPECT_EQ(d.fn_from, CGT_SRC_SP_WORD);
      EXPECT_EQ(d.fn_sp_off, 8u);
      EXPECT_EQ(d.sp_to_entry, 64) << "runtime.cgocall's frame: str x30, [sp, #-0x40]!";
    }
    if (d.event == CGT_SE_CB_START) {
      EXPECT_EQ(d.fn_from, CGT_SRC_ARG0);
    }
    if (d.event == CGT_SE_CALL_END) {
      EXPECT_EQ(d.flags, CGT_SITE_F_TASK | CGT_SITE_F_C_END);
    }
  }
  // Without .symtab the caller's PC is cgocall's saved LR at 0(SP), not
  // shifted by the frame size as on x86-64.
  const SiteRule* start = nullptr;
  for (const SiteRule& r : SiteTable(Arch::kArm64)) {
    if (r.event == CGT_SE_CALL_START && r.where == SiteWhere::kCallTo) {
      start = &r;
    }
  }
  ASSERT_NE(start, nullptr);
  cgt_site_desc stripped = DescriptorFor(Arch::kArm64, *start, 64, /*has_symtab=*/false);
  EXPECT_EQ(stripped.pc_from, CGT_SRC_SP_WORD);
  EXPECT_EQ(stripped.pc_sp_off, 0u);
}

}  // namespace
}  // namespace cgotrace
