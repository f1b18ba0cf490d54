#include "util/format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace cgotrace {
namespace {

TEST(HumanDurationTest, ThreeSignificantDigits) {
  EXPECT_EQ(HumanDuration(0), "0ns");
  EXPECT_EQ(HumanDuration(850), "850ns");
  EXPECT_EQ(HumanDuration(999), "999ns");
  EXPECT_EQ(HumanDuration(1000), "1.00µs");
  EXPECT_EQ(HumanDuration(1234), "1.23µs");
  EXPECT_EQ(HumanDuration(1235), "1.24µs");
  EXPECT_EQ(HumanDuration(12'345), "12.3µs");
  EXPECT_EQ(HumanDuration(123'456), "123µs");
  EXPECT_EQ(HumanDuration(999'499), "999µs");
  EXPECT_EQ(HumanDuration(999'500), "1.00ms");  // rounds up into the next unit
  EXPECT_EQ(HumanDuration(4'560'000), "4.56ms");
  EXPECT_EQ(HumanDuration(12'345'678), "12.3ms");
  EXPECT_EQ(HumanDuration(1'234'000'000), "1.23s");
  EXPECT_EQ(HumanDuration(999'999'999'999), "1000s");
  EXPECT_EQ(HumanDuration(1'234'567'000'000), "1235s");
  EXPECT_EQ(HumanDuration(UINT64_MAX), "18446744074s");
}

TEST(HumanBytesTest, BinaryUnits) {
  EXPECT_EQ(HumanBytes(0), "0B");
  EXPECT_EQ(HumanBytes(512), "512B");
  EXPECT_EQ(HumanBytes(1023), "1023B");
  EXPECT_EQ(HumanBytes(1024), "1.0KiB");
  EXPECT_EQ(HumanBytes(1229), "1.2KiB");
  EXPECT_EQ(HumanBytes(8192), "8.0KiB");
  EXPECT_EQ(HumanBytes(1024 * 1024 - 1), "1.0MiB");
  EXPECT_EQ(HumanBytes(1536 * 1024), "1.5MiB");
  EXPECT_EQ(HumanBytes(UINT64_MAX), "16.0EiB");
}

TEST(JsonQuoteTest, EscapesEverythingJsonRequires) {
  EXPECT_EQ(JsonQuote(""), R"("")");
  EXPECT_EQ(JsonQuote("plain"), R"("plain")");
  EXPECT_EQ(JsonQuote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonQuote("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\0", 3)), R"("\u0001\u001f\u0000")");
  EXPECT_EQ(JsonQuote("/\x7f"), "\"/\x7f\"");
}

TEST(JsonQuoteTest, PassesValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonQuote("µs ↳ 😀"), "\"µs ↳ 😀\"");
  const std::string kReplacement = "\xEF\xBF\xBD";
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            "\"a" + kReplacement + "b\"");
  EXPECT_EQ(JsonQuote("\xC3"), "\"" + kReplacement + "\"");                     // truncated
  EXPECT_EQ(JsonQuote("\xC0\xAF"), "\"" + kReplacement + kReplacement + "\"");  // overlong
  EXPECT_EQ(JsonQuote("\xED\xA0\x80"), "\"" + kReplacement + kReplacement + kReplacement + "\"");
  EXPECT_EQ(JsonQuote("\x80"), "\"" + kReplacement + "\"");
  // Whatever the bytes, the result parses and round-trips valid parts.
  for (int c = 0; c < 256; ++c) {
    std::string raw = "x";
    raw += static_cast<char>(c);
    raw += "\xE2\x86";  // truncated 3-byte sequence
    const auto parsed = nlohmann::json::parse(JsonQuote(raw), nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << c;
    ASSERT_TRUE(parsed.is_string());
    if (c < 0x80) {
      EXPECT_EQ(parsed.get<std::string>(), raw.substr(0, 2) + "\xEF\xBF\xBD\xEF\xBF\xBD");
    }
  }
}

CgoEvent SampleEvent() {
  CgoEvent e;
  e.pid = 1;
  e.tid = 2;
  e.goid = 3;
  e.func = "sqlite3_step";
  e.comm = "app";
  e.start_ns = 4;
  e.duration_ns = 5;
  e.stack_depth = 6;
  return e;
}

TEST(FormatEventJsonTest, ExactCallAndCallbackLines) {
  CgoEvent e = SampleEvent();
  EXPECT_EQ(FormatEventJson(e),
            R"({"event":"cgo_call","pid":1,"tid":2,"goid":3,"func":"sqlite3_step",)"
            R"("comm":"app","start_ns":4,"duration_ns":5,"stack_depth":6})");
  e.kind = EventKind::kCallback;
  e.func = "goCallback";
  EXPECT_EQ(FormatEventJson(e),
            R"({"event":"cgo_callback","pid":1,"tid":2,"goid":3,"func":"goCallback",)"
            R"("comm":"app","start_ns":4,"duration_ns":5,"stack_depth":6})");
}

TEST(FormatEventJsonTest, HostileNamesStayValidJson) {
  CgoEvent e = SampleEvent();
  e.func = "we\"ird\n\xff";
  e.comm = "a\\b\x01";
  e.goid = UINT64_MAX;
  const auto j = nlohmann::json::parse(FormatEventJson(e));
  EXPECT_EQ(j["func"], "we\"ird\n\xEF\xBF\xBD");
  EXPECT_EQ(j["comm"], "a\\b\x01");
  EXPECT_EQ(j["goid"].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(j["event"], "cgo_call");
}

TEST(FormatEventTextTest, AlignedLine) {
  CgoEvent e;
  e.pid = 1234;
  e.tid = 1240;
  e.goid = 17;
  e.func = "sqlite3_step";
  e.comm = "app";
  e.start_ns = 10'001'234'567;
  e.duration_ns = 12'345;
  e.stack_depth = 1229;
  EXPECT_EQ(FormatEventText(e, 10'000'000'000),
            "    0.001234 app/1234/1240          g17      sqlite3_step                   "
            "12.3µs  depth 1.2KiB");
  EXPECT_EQ(EventTextHeader(),
            "     TIME(s) COMM/PID/TID           GOID     FUNC                         "
            "DURATION  STACK");
}

TEST(FormatEventTextTest, CallbackMarkedAndColumnsStayAligned) {
  CgoEvent call = SampleEvent();
  CgoEvent cb = SampleEvent();
  cb.kind = EventKind::kCallback;
  cb.func = "goCallback";
  const std::string call_line = FormatEventText(call, 0);
  const std::string cb_line = FormatEventText(cb, 0);
  EXPECT_THAT(cb_line, testing::HasSubstr("↳ goCallback"));
  EXPECT_THAT(call_line, testing::Not(testing::HasSubstr("↳")));
  // "↳" is 3 bytes but one column, so the lines differ by exactly 2 bytes.
  EXPECT_EQ(cb_line.size(), call_line.size() + 2);
  EXPECT_EQ(call_line.find("depth"), EventTextHeader().find("STACK"));
}

TEST(FormatEventTextTest, StartBeforeT0IsNegative) {
  CgoEvent e = SampleEvent();
  e.start_ns = 1'000'000'000;
  EXPECT_THAT(FormatEventText(e, 1'500'000'000), testing::StartsWith("   -0.500000 "));
}

}  // namespace
}  // namespace cgotrace
