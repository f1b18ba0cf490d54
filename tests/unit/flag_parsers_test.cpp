// The one duration parser and the one named-choice parser every flag uses.
#include <cstdint>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "util/choice.h"
#include "util/duration.h"

namespace cgotrace {
namespace {

using ::testing::HasSubstr;

constexpr DurationRange kAny{0, UINT64_MAX};

uint64_t Ns(const std::string& text) {
  auto d = ParseDuration("--duration", text, kAny);
  EXPECT_TRUE(d.ok()) << text << ": " << (d ? "" : d.error().message);
  return d ? *d : 0;
}

TEST(ParseDurationTest, UnitsAndFractionsAreExact) {
  EXPECT_EQ(Ns("500ms"), 500'000'000u);
  EXPECT_EQ(Ns("1s"), 1'000'000'000u);
  EXPECT_EQ(Ns("10"), 10'000'000'000u);  // bare number: seconds
  EXPECT_EQ(Ns("2.5s"), 2'500'000'000u);
  EXPECT_EQ(Ns("0.1s"), 100'000'000u);  // exact, no binary-fraction rounding
  EXPECT_EQ(Ns("1m"), 60'000'000'000u);
  EXPECT_EQ(Ns("1.5h"), 5'400'000'000'000u);
  EXPECT_EQ(Ns("100us"), 100'000u);
  EXPECT_EQ(Ns("100µs"), 100'000u);
  EXPECT_EQ(Ns("250ns"), 250u);
  EXPECT_EQ(Ns(".5s"), 500'000'000u);
  EXPECT_EQ(Ns("1.0000000001s"), 1'000'000'000u);  // below 1 ns: truncated
  EXPECT_EQ(Ns("18446744073ms"), 18'446'744'073'000'000u);
}

// The values of issue 12: each used to run forever (strtod, then a cast to
// an integer: undefined behaviour for inf, nan and 1e30; 0 meant "forever").
TEST(ParseDurationTest, RejectsWhatIsNotAFiniteDuration) {
  for (const char* text : {"inf", "nan", "1e30s", "-3s", "+3s", "", "s", ".s", "1.s", "0x10s",
                           "1 s", " 1s", "1s ", "1e3", "infinity", "NaN", "1,5s", "--1"}) {
    auto d = ParseDuration("--duration", text, kRunDurationRange);
    ASSERT_FALSE(d.ok()) << "'" << text << "' parsed as " << *d << " ns";
    EXPECT_THAT(d.error().message, HasSubstr("--duration '" + std::string(text) + "'"));
  }
  auto unit = ParseDuration("--duration", "3d", kRunDurationRange);
  ASSERT_FALSE(unit.ok());
  EXPECT_THAT(unit.error().message, HasSubstr("unknown unit 'd'"));
}

TEST(ParseDurationTest, RangesNameTheLimit) {
  auto zero = ParseDuration("--duration", "0", kRunDurationRange);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message, "--duration '0': must be at least 1ms");
  auto huge = ParseDuration("--duration", "1000000000000000000000000000000s", kRunDurationRange);
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.error().message, HasSubstr("too long (at most 8784h)"));
  EXPECT_FALSE(ParseDuration("--duration", "8785h", kRunDurationRange).ok());
  EXPECT_TRUE(ParseDuration("--duration", "8784h", kRunDurationRange).ok());
  auto fast = ParseDuration("--interval", "1ms", kIntervalRange);
  ASSERT_FALSE(fast.ok());
  EXPECT_EQ(fast.error().message, "--interval '1ms': must be at least 100ms");
  EXPECT_TRUE(ParseDuration("--interval", "100ms", kIntervalRange).ok());
  EXPECT_FALSE(ParseDuration("--rescan", "2h", kRescanRange).ok());
  // 2^64 ns and more cannot wrap around into range.
  EXPECT_FALSE(ParseDuration("--x", "18446744073709551616ns", kAny).ok());
  EXPECT_FALSE(ParseDuration("--x", "18446744073709551615000h", kAny).ok());
  EXPECT_EQ(*ParseDuration("--x", "18446744073709551615ns", kAny), UINT64_MAX);
}

enum class Colour { kRed, kGreen, kBlue };
constexpr std::array<Choice<Colour>, 4> kColours{{{"red", Colour::kRed},
                                                  {"green", Colour::kGreen},
                                                  {"blue", Colour::kBlue},
                                                  {"navy", Colour::kBlue, false}}};

TEST(ParseChoiceTest, MatchesExactlyAndListsChoicesInErrors) {
  EXPECT_EQ(*ParseChoice<Colour>("--c", "green", kColours), Colour::kGreen);
  EXPECT_EQ(*ParseChoice<Colour>("--c", "navy", kColours), Colour::kBlue);
  for (const char* bad : {"Red", "", "re", "reds", "purple"}) {
    auto c = ParseChoice<Colour>("--c", bad, kColours);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().message,
              "--c '" + std::string(bad) + "': unknown value (expected red, green or blue)");
  }
  EXPECT_EQ(ChoiceName<Colour>(kColours, Colour::kBlue), "blue");
}

}  // namespace
}  // namespace cgotrace
