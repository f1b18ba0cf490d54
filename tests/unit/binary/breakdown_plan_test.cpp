// The --breakdown plan on real Go builds, amd64 and arm64: where C returned
// (the CALL / BL of runtime.exitsyscall), the call's end right after
// exitsyscall returns (no fallback), and every CALL / BL runtime.mcall in
// runtime.exitsyscall (its slow path), emulated by the kernel. The arm64
// live tier traces the arm64 plan (tests/arm64/arm64_test.cpp).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "binary/go_binary.h"
#include "binary/site_plan.h"
#include "binary_fixture_util.h"

namespace cgotrace {
namespace {

std::vector<const PlannedSite*> SitesFor(const SitePlan& plan, cgt_site_event event) {
  std::vector<const PlannedSite*> out;
  for (const PlannedSite& s : plan.sites) {
    if (plan.descriptors[s.slot].event == event) out.push_back(&s);
  }
  return out;
}

void ExpectBreakdownPlan(const std::string& path) {
  SCOPED_TRACE(path);
  auto bin = GoBinary::Analyze(path);
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  auto plan = PlanSites(**bin, false, true);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  const uint64_t exitsyscall = (*bin)->exitsyscall().entry;

  auto c_end = SitesFor(*plan, CGT_SE_C_END);
  ASSERT_EQ(c_end.size(), 1u);
  EXPECT_EQ(c_end[0]->function, "runtime.cgocall");
  EXPECT_TRUE(c_end[0]->c_end);
  EXPECT_EQ(c_end[0]->cost, SiteCost::kEmulated) << c_end[0]->insn;

  auto end = SitesFor(*plan, CGT_SE_CALL_END);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0]->function, "runtime.cgocall");
  EXPECT_FALSE(end[0]->fallback) << end[0]->why;
  EXPECT_GT(end[0]->vaddr, c_end[0]->vaddr) << "after exitsyscall returns";

  auto off = SitesFor(*plan, CGT_SE_CALL_OFF_THREAD);
  ASSERT_FALSE(off.empty()) << "exitsyscall's slow path";
  for (const PlannedSite* s : off) {
    EXPECT_EQ(s->function, "runtime.exitsyscall");
    EXPECT_GE(s->vaddr, exitsyscall);
    EXPECT_EQ(s->cost, SiteCost::kEmulated) << s->insn;
  }
  auto start = SitesFor(*plan, CGT_SE_CALL_START);
  ASSERT_EQ(start.size(), 1u);
  EXPECT_FALSE(start[0]->fallback);
}

TEST(BreakdownPlanTest, Amd64Go126) { ExpectBreakdownPlan(test::FixturePath("cgocalls")); }

TEST(BreakdownPlanTest, Arm64Go126) { ExpectBreakdownPlan(test::FixturePath("cgocalls-arm64")); }

TEST(BreakdownPlanTest, Arm64Go117) {
  const std::string list = CGOTRACE_MATRIX_QUICK_LIST;
  ExpectBreakdownPlan(list.substr(0, list.find_last_of('/')) + "/go1.17.13/default.arm64/cgocalls");
}

}  // namespace
}  // namespace cgotrace
