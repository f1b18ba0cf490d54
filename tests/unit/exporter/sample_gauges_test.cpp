// The exporter's sampled in-C gauges without BPF: a round's calls become
// exact per-function thread counts and oldest ages, functions that empty out
// drop to 0, the function cap, and a valid exposition (promtool).
#include "exporter/sample_gauges.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace cgotrace {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Text(const SampleGaugeTable& t) { return RenderExpositionText(t.Collect()); }

TEST(SampleGaugeTableTest, CountsThreadsAndTheOldestAgePerFunction) {
  SampleGaugeTable t(10);
  t.Publish({{"app", "block", 1'500'000'000},
             {"app", "block", 250'000'000},
             {"app", "block", 3'000'000'000},
             {"app", "spin", 0},
             {"other-app", "block", 7'000'000}},
            2);
  const std::string text = Text(t);
  EXPECT_THAT(text,
              HasSubstr("cgotrace_threads_in_cgo_sampled{binary=\"app\",function=\"block\"} 3\n"));
  EXPECT_THAT(text,
              HasSubstr("cgotrace_threads_in_cgo_sampled{binary=\"app\",function=\"spin\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("cgotrace_threads_in_cgo_sampled{binary=\"other-app\",function=\"block\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("cgotrace_oldest_cgo_call_age_seconds{binary=\"app\",function=\"block\"} 3\n"));
  EXPECT_THAT(
      text,
      HasSubstr("cgotrace_oldest_cgo_call_age_seconds{binary=\"other-app\",function=\"block\"} "
                "0.007\n"));
  EXPECT_THAT(text, HasSubstr("cgotrace_processes_sampled 2\n"));
}

TEST(SampleGaugeTableTest, FunctionsNoLongerInCDropToZero) {
  SampleGaugeTable t(10);
  t.Publish({{"app", "block", 5'000'000'000}}, 1);
  t.Publish({{"app", "spin", 1'000'000}}, 1);
  const std::string text = Text(t);
  EXPECT_THAT(text,
              HasSubstr("cgotrace_threads_in_cgo_sampled{binary=\"app\",function=\"block\"} 0\n"));
  EXPECT_THAT(
      text,
      HasSubstr("cgotrace_oldest_cgo_call_age_seconds{binary=\"app\",function=\"block\"} 0\n"));
  EXPECT_THAT(text,
              HasSubstr("cgotrace_threads_in_cgo_sampled{binary=\"app\",function=\"spin\"} 1\n"));
  t.Publish({}, 0);
  EXPECT_THAT(Text(t), HasSubstr("cgotrace_processes_sampled 0\n"));
  EXPECT_THAT(Text(t), Not(HasSubstr("} 1\n")));
}

TEST(SampleGaugeTableTest, FunctionsBeyondTheCapCountAsOther) {
  SampleGaugeTable t(2);
  t.Publish({{"app", "a", 1}, {"app", "b", 2}, {"app", "c", 3'000'000'000}, {"app", "d", 4}}, 1);
  const std::string text = Text(t);
  EXPECT_THAT(text,
              HasSubstr("cgotrace_threads_in_cgo_sampled{binary=\"app\",function=\"other\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("cgotrace_oldest_cgo_call_age_seconds{binary=\"app\",function=\"other\"} 3\n"));
  EXPECT_THAT(text, Not(HasSubstr("function=\"c\"")));
  // Admitted names stay admitted: "a" is still its own series later.
  t.Publish({{"app", "a", 1}, {"app", "e", 1}}, 1);
  EXPECT_THAT(Text(t),
              HasSubstr("cgotrace_threads_in_cgo_sampled{binary=\"app\",function=\"a\"} 1\n"));
  EXPECT_THAT(Text(t),
              HasSubstr("cgotrace_threads_in_cgo_sampled{binary=\"app\",function=\"other\"} 1\n"));
}

TEST(SampleGaugeTableTest, ExpositionPassesPromtool) {
  SampleGaugeTable t(10);
  t.Publish({{"app", "block", 1'500'000'000}, {"app", "spin", 0}}, 1);
  const std::string path = testing::TempDir() + "/sample_gauges.prom";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  const std::string text = Text(t);
  fwrite(text.data(), 1, text.size(), f);
  fclose(f);
  const std::string cmd = "promtool check metrics < " + path + " 2>&1";
  EXPECT_EQ(system(cmd.c_str()), 0) << text;
}

}  // namespace
}  // namespace cgotrace
