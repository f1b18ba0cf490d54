// What the record/report end-to-end tests share: a fixture run under
// `cgotrace record` with its truth, and a report of it written to a file.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {

inline constexpr auto kRecordTimeout = 90s;

// A recording of a fixture, and the truth that fixture wrote.
struct Recorded {
  std::string path;
  Json truth;  // null when the run or its truth failed (the test has failed)
};

// `cgotrace record FLAGS -o DIR/app.cgotrace -- FIXTURE -truth=DIR/truth.json
// ARGS`, which must exit 0.
inline Recorded RecordFixture(const TempDir& dir, const std::vector<std::string>& flags,
                              const std::string& fixture, const std::vector<std::string>& args) {
  Recorded out{dir.File("app.cgotrace"), Json()};
  const std::string truth_path = dir.File("truth.json");
  std::vector<std::string> argv = {CgotraceBin(), "record"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {"-o", out.path, "--", fixture, "-truth=" + truth_path});
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = RunCommand(argv, dir, kRecordTimeout);
  EXPECT_TRUE(r.status.Ok()) << r.Describe();
  if (!r.status.Ok()) return out;
  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  EXPECT_TRUE(truth) << error;
  if (truth) out.truth = *truth;
  return out;
}

// `cgotrace report -i REC --format FORMAT -o OUT`, which must exit 0.
inline bool ReportTo(const TempDir& dir, const std::string& rec, const std::string& format,
                     const std::string& out) {
  RunResult r =
      RunCommand({CgotraceBin(), "report", "-i", rec, "--format", format, "-o", out}, dir);
  EXPECT_TRUE(r.status.Ok()) << r.Describe();
  return r.status.Ok();
}

}  // namespace cgotrace::e2e
