// A Go release cgotrace has never seen: a stripped go1.26 binary (and a
// stripped PIE) whose every Go version string is rewritten to a release that
// does not exist (same length: go1.26.8 -> go1.29.0). Without DWARF and with a
// version beyond the offset table, cgotrace must take every runtime offset
// from the binary's own type descriptors and trace it exactly: launch mode,
// every event against the program's own truth.
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "elf/elf_file.h"
#include "gofile/go_buildinfo.h"
#include "harness.h"
#include "offsets/go_offsets.h"

namespace cgotrace::e2e {
namespace {

constexpr auto kRunTimeout = 60s;

// The same-length version of a release that does not exist.
std::string FakeVersion(const std::string& real) {
  std::string fake = "go1.29.0";
  while (fake.size() < real.size()) fake += "0";
  return fake;
}

struct Relabeled {
  std::string path;
  std::string real;
  std::string fake;
  int replaced = 0;
};

// Copies `from` into `dir` under the same base name (the comm the tracer
// reports), every occurrence of its Go version replaced: buildinfo,
// runtime.buildVersion, toolchain paths.
Relabeled Relabel(const std::string& from, const TempDir& dir) {
  Relabeled out;
  auto elf = ElfFile::Open(from);
  EXPECT_TRUE(elf) << elf.error().message;
  if (!elf) return out;
  auto info = GoBuildInfo::Read(**elf);
  EXPECT_TRUE(info) << info.error().message;
  if (!info) return out;
  out.real = info->version.raw;
  out.fake = FakeVersion(out.real);
  EXPECT_EQ(out.fake.size(), out.real.size()) << out.real;
  std::string bytes = ReadFile(from);
  for (size_t at = bytes.find(out.real); at != std::string::npos;
       at = bytes.find(out.real, at + 1)) {
    bytes.replace(at, out.real.size(), out.fake);
    ++out.replaced;
  }
  std::string dir_path = dir.File("relabeled");
  mkdir(dir_path.c_str(), 0755);
  out.path = dir_path + "/" + CommOf(from);
  std::ofstream(out.path, std::ios::binary) << bytes;
  chmod(out.path.c_str(), 0755);
  return out;
}

class RelabeledTest : public BpfTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(RelabeledTest, TracedExactlyFromItsOwnTypeDescriptors) {
  const std::string stripped = Fixture(GetParam());
  Relabeled r = Relabel(stripped, dir_);
  ASSERT_FALSE(r.path.empty());
  // buildinfo and runtime.buildVersion at least.
  ASSERT_GE(r.replaced, 2) << r.real;

  // The tracer sees the fake release, no DWARF, a version beyond its table.
  auto elf = ElfFile::Open(r.path);
  ASSERT_TRUE(elf) << elf.error().message;
  auto info = GoBuildInfo::Read(**elf);
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->version.raw, r.fake);
  ASSERT_FALSE(RuntimeOffsets::FromDwarf(**elf).ok());
  ASSERT_FALSE(RuntimeOffsets::FromTable(info->version).ok());

  // inspect: offsets from the type descriptors, equal to the DWARF of the
  // same program built with symbols (the same link but for -s -w).
  RunResult ins = RunCommand({CgotraceBin(), "inspect", r.path}, dir_, 60s);
  ASSERT_TRUE(ins.status.Ok()) << ins.Describe();
  EXPECT_NE(ins.out.find("go version:   " + r.fake), std::string::npos) << ins.out;
  EXPECT_NE(ins.out.find("offsets:      type descriptors:"), std::string::npos) << ins.out;
  EXPECT_EQ(ins.err.find("warning"), std::string::npos) << ins.err;
  std::string with_dwarf = GetParam();
  with_dwarf.erase(with_dwarf.rfind("-stripped"));
  auto sibling = ElfFile::Open(Fixture(with_dwarf));
  ASSERT_TRUE(sibling) << sibling.error().message;
  auto dwarf = RuntimeOffsets::FromDwarf(**sibling);
  ASSERT_TRUE(dwarf) << dwarf.error().message;
  for (const RuntimeField& f : RuntimeFields()) {
    uint32_t v = (*dwarf).*f.member;
    const std::string want =
        fmt::format("  {:<12} {:>6}  from type descriptors", f.label,
                    v == RuntimeOffsets::kAbsent ? "absent" : std::to_string(v));
    EXPECT_NE(ins.out.find(want), std::string::npos) << want << "\n" << ins.out;
  }

  // Launch mode: every cgo call of the process, exactly.
  const std::string truth_path = dir_.File("truth.json");
  const std::string events_path = dir_.File("events.jsonl");
  Process ct = Process::Start(Concat({CgotraceBin(), "trace", "--format", "jsonl", "--output",
                                      events_path, "--", r.path, "-truth=" + truth_path},
                                     ModestCgocallsArgs()),
                              dir_.File("cgotrace.out"), dir_.File("cgotrace.err"));
  ASSERT_TRUE(ct.WaitOrKill(kRunTimeout).Ok()) << ct.Describe();
  EXPECT_NE(ct.Stdout().find("DONE"), std::string::npos) << ct.Describe();
  EXPECT_EQ(ct.Stderr().find("warning"), std::string::npos) << ct.Describe();

  std::string error;
  auto truth = ReadTruth(truth_path, &error);
  ASSERT_TRUE(truth) << error;
  // The program itself believes it is the fake release.
  EXPECT_EQ(truth->at("go_version").get<std::string>(), r.fake);
  const auto all = ReadEventsOrFail(events_path);
  ExpectWellFormed(all);
  const auto events = ForPid(all, truth->at("pid").get<uint64_t>());
  ASSERT_FALSE(events.empty()) << "no events for the program's pid; " << ct.Describe();
  ExpectMatchesCgocallsTruth(*truth, events, Window::kWholeProcess, CommOf(r.path));
}

INSTANTIATE_TEST_SUITE_P(Stripped, RelabeledTest,
                         ::testing::Values("cgocalls-stripped", "cgocalls-pie-stripped"),
                         [](const auto& info) {
                           return std::string(info.param) == "cgocalls-stripped" ? "Plain" : "Pie";
                         });

}  // namespace
}  // namespace cgotrace::e2e
