// Golden outputs of `cgotrace report` on a real recording kept in tests/data
// (the cgocalls fixture, recorded once with --call-stacks together with the
// fixture's truth). Host, kernel and times come from the file, so the
// outputs are the same on every machine.
//
// After an intended change of the output, regenerate with
//   CGOTRACE_UPDATE_GOLDEN=1 build/tests/cgotrace_unit_tests --gtest_filter='RecordingGolden*'
// and review the diff of tests/data.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cgotrace/recording.h"
#include "report/report.h"

namespace cgotrace {
namespace {

const std::string kData = std::string(CGOTRACE_SOURCE_DIR) + "/tests/data/";
const std::string kRecording = kData + "cgocalls.cgotrace";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void ExpectGolden(const std::string& name, const std::string& got) {
  const std::string path = kData + name;
  if (std::getenv("CGOTRACE_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << got;
    return;
  }
  EXPECT_EQ(got, ReadAll(path)) << "differs from " << path
                                << " (CGOTRACE_UPDATE_GOLDEN=1 regenerates it)";
}

std::string Table(const std::string& sort, double limit, bool histograms, bool json) {
  auto reader = RecordingReader::Open(kRecording);
  EXPECT_TRUE(reader.ok()) << reader.error().message;
  if (!reader.ok()) return "";
  ReportTable table(**reader, TableOptions{*ParseReportSort(sort), limit, histograms});
  std::vector<RecordedEvent> batch;
  while (*(*reader)->NextBatch(&batch)) {
    for (const RecordedEvent& e : batch) table.Add(e);
  }
  const TableReport rep = table.Finish();
  return json ? FormatTableJson(**reader, rep) + "\n" : FormatTableText(**reader, rep);
}

TEST(RecordingGolden, TableText) {
  ExpectGolden("cgocalls.report.txt", Table("func", 0, false, false));
}

TEST(RecordingGolden, TableByGoroutineWithLimitAndHistograms) {
  ExpectGolden("cgocalls.goid-func.txt", Table("goid,func", 1, true, false));
}

TEST(RecordingGolden, TableJson) {
  ExpectGolden("cgocalls.report.json", Table("func", 0, false, true));
}

TEST(RecordingGolden, Folded) {
  auto rec = LoadRecording(kRecording);
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  ExpectGolden("cgocalls.folded", FormatFolded(BuildProfile(*rec, ProfileOptions{})));
}

// The kept recording itself agrees with the truth the fixture wrote then.
TEST(RecordingGolden, RecordingMatchesItsFixtureTruth) {
  const nlohmann::json truth = nlohmann::json::parse(ReadAll(kData + "cgocalls.truth.json"));
  auto rec = LoadRecording(kRecording);
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  EXPECT_FALSE(rec->reader->truncated());
  std::map<std::pair<uint64_t, std::string>, uint64_t> calls, callbacks;
  for (const RecordedEvent& e : rec->events) {
    auto& m = e.kind == EventKind::kCall ? calls : callbacks;
    ++m[{e.goid, rec->reader->str(e.func)}];
  }
  for (const auto& g : truth.at("goroutines")) {
    for (const auto& [func, n] : g.at("calls").items()) {
      EXPECT_EQ((calls[{g.at("goid").get<uint64_t>(), func}]), n.get<uint64_t>())
          << "goroutine " << g.at("goid") << " " << func;
    }
  }
  const auto& cb = truth.at("callbacks");
  EXPECT_EQ((callbacks[{cb.at("goid").get<uint64_t>(), cb.at("func").get<std::string>()}]),
            cb.at("count").get<uint64_t>());
  ASSERT_EQ(rec->reader->processes().size(), 1u);
  EXPECT_EQ(rec->reader->processes()[0].pid, truth.at("pid").get<uint32_t>());
  EXPECT_EQ(rec->reader->processes()[0].go_version, truth.at("go_version").get<std::string>());
}

}  // namespace
}  // namespace cgotrace
