// Recording-reader bugs found by fuzz_recording (tests/fuzz), each checked as
// a user meets it: how much memory a bad file costs, and what is printed.
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

#include "binary_fixture_util.h"
#include "cgotrace/recording.h"

namespace cgotrace {
namespace {

long MaxRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// A 2 KB file whose record length says 135 MB: the reader used to allocate
// (and zero) the whole claimed length before finding the file ends.
TEST(RecordingFuzzRegressions, CorruptRecordLengthDoesNotAllocateIt) {
  const std::string path =
      CGOTRACE_SOURCE_DIR "/tests/fuzz/regressions/recording/record-length-allocates-135MB";
  const long before = MaxRssKb();
  auto loaded = LoadRecording(path);
  const long grew_kb = MaxRssKb() - before;
  EXPECT_LT(grew_kb, 32 * 1024) << "peak RSS grew by " << grew_kb << " KB on a 2 KB file";
  if (loaded) {
    EXPECT_TRUE(loaded->reader->truncated());
  }
}

// A string that is not UTF-8: one error from the reader, nothing from
// protobuf's logger on stderr.
TEST(RecordingFuzzRegressions, InvalidUtf8IsOneErrorAndNoLibraryNoise) {
  auto bytes = test::ReadBytes(CGOTRACE_SOURCE_DIR "/tests/data/cgocalls.cgotrace");
  const std::string text(bytes.begin(), bytes.end());
  const size_t at = text.find("fast_add");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 0xff;
  test::TempFile file("bad-utf8.cgotrace", bytes);
  testing::internal::CaptureStderr();
  auto loaded = LoadRecording(file.path());
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("corrupt"), std::string::npos) << loaded.error().message;
  EXPECT_EQ(err, "");
}

}  // namespace
}  // namespace cgotrace
