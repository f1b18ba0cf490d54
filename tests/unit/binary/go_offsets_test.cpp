#include "offsets/go_offsets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "elf/elf_file.h"
#include "gofile/go_buildinfo.h"
#include "gofile/go_pclntab.h"

namespace cgotrace {
namespace {

using testing::HasSubstr;

const std::string kFixtureDir = CGOTRACE_FIXTURE_DIR;

GoVersion Version(int minor, int patch) {
  GoVersion v;
  v.major = 1;
  v.minor = minor;
  v.patch = patch;
  v.raw = patch == 0 && minor < 21 ? fmt::format("go1.{}", minor)
                                   : fmt::format("go1.{}.{}", minor, patch);
  return v;
}

struct Key {
  uint32_t goid, procid, curg;
};

std::unique_ptr<ElfFile> OpenFixture(const std::string& path) {
  Result<std::unique_ptr<ElfFile>> elf = ElfFile::Open(path);
  EXPECT_TRUE(elf.ok()) << (elf.ok() ? "" : elf.error().message);
  if (!elf.ok()) return nullptr;
  return std::move(elf).value();
}

GoVersion VersionOf(const ElfFile& elf) {
  Result<GoBuildInfo> info = GoBuildInfo::Read(elf);
  EXPECT_TRUE(info.ok()) << (info.ok() ? "" : info.error().message);
  return info.ok() ? info->version : GoVersion{};
}

GoPclntab PclntabOf(const ElfFile& elf) {
  Result<GoPclntab> pcln = GoPclntab::Read(elf);
  EXPECT_TRUE(pcln.ok()) << (pcln.ok() ? "" : pcln.error().message);
  return pcln.ok() ? std::move(*pcln) : GoPclntab{};
}

// A copy of a fixture with some bytes rewritten, removed at scope end.
class PatchedCopy {
 public:
  PatchedCopy(const std::string& from, const std::string& find, const std::string& replace) {
    std::ifstream in(from, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (size_t at = bytes.find(find); at != std::string::npos; at = bytes.find(find, at + 1)) {
      bytes.replace(at, find.size(), replace);
      ++patched_;
    }
    path_ = (std::filesystem::temp_directory_path() /
             fmt::format("cgotrace-offsets-{}-{}", getpid(), counter_++))
                .string();
    std::ofstream(path_, std::ios::binary) << bytes;
  }
  ~PatchedCopy() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }
  int patched() const { return patched_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
  int patched_ = 0;
};

// The error of RuntimeOffsets::For for an unknown release (go1.29.0) on a
// copy of the stripped fixture with `find` rewritten to `replace`; "" (and
// a failure) when the bytes are not there or For succeeds.
std::string UnknownReleaseError(const std::string& find, const std::string& replace) {
  PatchedCopy copy(kFixtureDir + "/cgocalls-stripped", find, replace);
  EXPECT_GE(copy.patched(), 1);
  std::unique_ptr<ElfFile> elf = OpenFixture(copy.path());
  if (elf == nullptr) {
    ADD_FAILURE() << "cannot open " << copy.path();
    return "";
  }
  Result<RuntimeOffsets> got = RuntimeOffsets::For(*elf, Version(29, 0), PclntabOf(*elf));
  EXPECT_FALSE(got.ok());
  return got.ok() ? "" : got.error().message;
}

// Values read from the DWARF of go1.X binaries (docs/offsets.md).
TEST(GoOffsetsTableTest, KnownVersions) {
  const struct {
    int minor, patch;
    Key want;
  } cases[] = {
      {17, 0, {152, 72, 192}},  {17, 13, {152, 72, 192}}, {18, 10, {152, 72, 192}},
      {19, 13, {152, 72, 192}}, {20, 14, {152, 72, 192}}, {21, 0, {152, 72, 192}},
      {22, 12, {152, 72, 192}}, {23, 0, {160, 72, 192}},  {24, 13, {160, 72, 192}},
      {25, 0, {152, 64, 184}},  {25, 9, {152, 64, 184}},  {26, 8, {152, 64, 184}},
      {27, 3, {152, 64, 184}},
  };
  for (const auto& c : cases) {
    Result<RuntimeOffsets> got = RuntimeOffsets::FromTable(Version(c.minor, c.patch));
    ASSERT_TRUE(got.ok()) << "go1." << c.minor << ": " << got.error().message;
    EXPECT_EQ(got->g_goid, c.want.goid) << "go1." << c.minor;
    EXPECT_EQ(got->m_procid, c.want.procid) << "go1." << c.minor;
    EXPECT_EQ(got->m_curg, c.want.curg) << "go1." << c.minor;
    EXPECT_EQ(got->g_stack_lo, 0u);
    EXPECT_EQ(got->g_stack_hi, 8u);
    EXPECT_EQ(got->g_m, 48u);
    EXPECT_EQ(got->m_g0, 0u);
    // g.syscallbp exists since go1.23.
    EXPECT_EQ(got->g_syscallbp == RuntimeOffsets::kAbsent, c.minor < 23) << "go1." << c.minor;
    EXPECT_EQ(got->source, fmt::format("table (go1.{})", c.minor));
  }
}

// Patch releases go1.23.12 and go1.24.6 added m.allpSnapshot (24 bytes)
// before m.ncgocall: the table is keyed by patch release, not only by minor.
TEST(GoOffsetsTableTest, PatchReleasesThatMovedNcgocall) {
  const struct {
    int minor, patch;
    uint32_t ncgocall;
  } cases[] = {
      {21, 13, 304}, {22, 0, 296}, {22, 12, 296}, {23, 0, 296},  {23, 11, 296}, {23, 12, 320},
      {24, 0, 296},  {24, 5, 296}, {24, 6, 320},  {24, 13, 320}, {25, 0, 312},  {25, 9, 312},
      {26, 0, 320},  {26, 8, 320}, {27, 0, 320},  {27, 3, 320},
  };
  for (const auto& c : cases) {
    Result<RuntimeOffsets> got = RuntimeOffsets::FromTable(Version(c.minor, c.patch));
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->m_ncgocall, c.ncgocall) << "go1." << c.minor << "." << c.patch;
  }
}

TEST(GoOffsetsTableTest, NewerVersionErrorNamesIt) {
  Result<RuntimeOffsets> got = RuntimeOffsets::FromTable(Version(28, 0));
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr("go1.28.0"));
  EXPECT_THAT(got.error().message, HasSubstr("newer"));
  EXPECT_THAT(got.error().message, HasSubstr("go1.17-go1.27"));
}

TEST(GoOffsetsTableTest, OlderVersionErrorNamesIt) {
  Result<RuntimeOffsets> got = RuntimeOffsets::FromTable(Version(16, 15));
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr("go1.16.15"));
  EXPECT_THAT(got.error().message, HasSubstr("older than go1.17"));

  GoVersion go2;
  go2.major = 2;
  go2.raw = "go2.0.0";
  Result<RuntimeOffsets> two = RuntimeOffsets::FromTable(go2);
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(two.error().message, HasSubstr("go2.0.0"));
}

// Keeps the table and the type-descriptor reader honest for whatever Go
// built the fixtures.
TEST(GoOffsetsDwarfTest, FixtureDwarfMatchesTableAndDescriptors) {
  for (const char* name : {"cgocalls", "cgocalls-pie", "cgocalls-arm64", "nocgo"}) {
    SCOPED_TRACE(name);
    std::unique_ptr<ElfFile> elf = OpenFixture(kFixtureDir + "/" + name);
    ASSERT_NE(elf, nullptr);
    Result<RuntimeOffsets> dwarf = RuntimeOffsets::FromDwarf(*elf);
    ASSERT_TRUE(dwarf.ok()) << dwarf.error().message;
    EXPECT_EQ(dwarf->source, "dwarf");
    // Unchanged since go1.4: runtime.g starts with stack{lo, hi}, then m at 48.
    EXPECT_EQ(dwarf->g_stack_lo, 0u);
    EXPECT_EQ(dwarf->g_stack_hi, 8u);
    EXPECT_EQ(dwarf->g_m, 48u);

    GoVersion version = VersionOf(*elf);
    Result<RuntimeOffsets> table = RuntimeOffsets::FromTable(version);
    ASSERT_TRUE(table.ok()) << table.error().message;
    GoPclntab pcln = PclntabOf(*elf);
    Result<RuntimeOffsets> desc = RuntimeOffsets::FromTypeDescriptors(*elf, version, pcln);
    ASSERT_TRUE(desc.ok()) << desc.error().message;
    EXPECT_EQ(desc->source, "type descriptors");
    for (const RuntimeField& f : RuntimeFields()) {
      EXPECT_EQ((*dwarf).*f.member, (*table).*f.member)
          << version.raw << " " << f.label << " table";
      EXPECT_EQ((*dwarf).*f.member, (*desc).*f.member) << version.raw << " " << f.label << " desc";
    }
  }
}

TEST(GoOffsetsDwarfTest, StrippedBinaryErrorsClearly) {
  const std::string path = kFixtureDir + "/cgocalls-stripped";
  std::unique_ptr<ElfFile> elf = OpenFixture(path);
  ASSERT_NE(elf, nullptr);
  Result<RuntimeOffsets> got = RuntimeOffsets::FromDwarf(*elf);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr(path));
  EXPECT_THAT(got.error().message, HasSubstr("no DWARF"));
}

TEST(GoOffsetsForTest, PrefersDwarfThenDescriptorsThenTable) {
  std::unique_ptr<ElfFile> full = OpenFixture(kFixtureDir + "/cgocalls");
  std::unique_ptr<ElfFile> stripped = OpenFixture(kFixtureDir + "/cgocalls-stripped");
  ASSERT_NE(full, nullptr);
  ASSERT_NE(stripped, nullptr);
  GoVersion version = VersionOf(*stripped);
  const std::string table = fmt::format("table (go1.{})", version.minor);

  Result<RuntimeOffsets> from_dwarf = RuntimeOffsets::For(*full, version, PclntabOf(*full));
  ASSERT_TRUE(from_dwarf.ok()) << from_dwarf.error().message;
  EXPECT_EQ(from_dwarf->source, "dwarf");
  EXPECT_THAT(from_dwarf->agreeing, testing::ElementsAre("type descriptors", table));
  EXPECT_TRUE(from_dwarf->warnings.empty());

  Result<RuntimeOffsets> from_desc = RuntimeOffsets::For(*stripped, version, PclntabOf(*stripped));
  ASSERT_TRUE(from_desc.ok()) << from_desc.error().message;
  EXPECT_EQ(from_desc->source, "type descriptors");
  EXPECT_THAT(from_desc->agreeing, testing::ElementsAre(table));
  ASSERT_EQ(from_desc->unavailable.size(), 1u);
  EXPECT_THAT(from_desc->unavailable[0], HasSubstr("no DWARF"));
  EXPECT_EQ(*from_desc, *from_dwarf);
}

// A release cgotrace has never seen: the stripped binary's own descriptors
// give every offset, exactly those of its DWARF-bearing sibling.
TEST(GoOffsetsForTest, UnknownVersionUsesTypeDescriptors) {
  std::unique_ptr<ElfFile> full = OpenFixture(kFixtureDir + "/cgocalls");
  std::unique_ptr<ElfFile> stripped = OpenFixture(kFixtureDir + "/cgocalls-stripped");
  ASSERT_NE(full, nullptr);
  ASSERT_NE(stripped, nullptr);
  Result<RuntimeOffsets> dwarf = RuntimeOffsets::FromDwarf(*full);
  ASSERT_TRUE(dwarf.ok()) << dwarf.error().message;
  Result<RuntimeOffsets> got = RuntimeOffsets::For(*stripped, Version(29, 0), PclntabOf(*stripped));
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->source, "type descriptors");
  EXPECT_TRUE(got->agreeing.empty());
  EXPECT_TRUE(got->warnings.empty());
  EXPECT_EQ(*got, *dwarf);
}

// A needed field renamed in the descriptors of an unknown release: one line
// naming the field and the version.
TEST(GoOffsetsForTest, MissingFieldNamesFieldAndVersion) {
  // The name data of the unexported field "goid": flags 0, length 4.
  const std::string message =
      UnknownReleaseError(std::string("\0\4goid", 6), std::string("\0\4gxid", 6));
  EXPECT_THAT(message, HasSubstr("go1.29.0"));
  EXPECT_THAT(message, HasSubstr("no field 'goid'"));
  EXPECT_THAT(message, HasSubstr("runtime.g"));
  EXPECT_THAT(message, HasSubstr("rebuild without -w or upgrade cgotrace"));
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

// No runtime.g descriptor to be found (its name destroyed): an unknown
// format, named with the version.
TEST(GoOffsetsForTest, UnknownDescriptorFormatNamesVersion) {
  const std::string message = UnknownReleaseError("*runtime.g", "*runtime.X");
  EXPECT_THAT(message, HasSubstr("go1.29.0"));
  EXPECT_THAT(message, HasSubstr("no runtime.g type descriptor"));
  EXPECT_THAT(message, HasSubstr("unknown type-descriptor format"));
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

// A known release whose descriptors disagree with the table: the
// descriptors win and a warning names both values.
TEST(GoOffsetsForTest, DisagreementIsAWarningNamingBothValues) {
  std::unique_ptr<ElfFile> stripped = OpenFixture(kFixtureDir + "/cgocalls-stripped");
  ASSERT_NE(stripped, nullptr);
  GoVersion version = VersionOf(*stripped);
  // go1.23's table row (goid 160) against a go1.25+ binary (goid 152).
  ASSERT_GE(version.minor, 25);
  version.minor = 23;
  version.raw = "go1.23.0";
  Result<RuntimeOffsets> got = RuntimeOffsets::For(*stripped, version, PclntabOf(*stripped));
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->source, "type descriptors");
  EXPECT_EQ(got->g_goid, 152u);
  ASSERT_FALSE(got->warnings.empty());
  EXPECT_THAT(got->warnings, testing::Contains(HasSubstr(
                                 "runtime.g.goid is 152 by type descriptors but 160 by table "
                                 "(go1.23); using type descriptors")));
}

// Binaries built by other toolchains (scripts/verify-offsets.sh writes the
// list). The installed toolchain's fixture is always checked as well, so this
// test never passes without comparing anything.
TEST(OffsetsMatrix, TableAndDescriptorsMatchDwarf) {
  std::vector<std::string> binaries = {kFixtureDir + "/cgocalls"};
  const std::filesystem::path list = kFixtureDir + "/offset-matrix.txt";
  if (std::filesystem::exists(list)) {
    std::ifstream in(list);
    ASSERT_TRUE(in) << "cannot read " << list;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      binaries.push_back(line[0] == '/' ? line : kFixtureDir + "/" + line);
    }
  }
  for (const std::string& path : binaries) {
    SCOPED_TRACE(path);
    std::unique_ptr<ElfFile> elf = OpenFixture(path);
    ASSERT_NE(elf, nullptr);
    GoVersion version = VersionOf(*elf);
    Result<RuntimeOffsets> dwarf = RuntimeOffsets::FromDwarf(*elf);
    Result<RuntimeOffsets> table = RuntimeOffsets::FromTable(version);
    Result<RuntimeOffsets> desc =
        RuntimeOffsets::FromTypeDescriptors(*elf, version, PclntabOf(*elf));
    ASSERT_TRUE(dwarf.ok()) << dwarf.error().message;
    ASSERT_TRUE(table.ok()) << table.error().message;
    ASSERT_TRUE(desc.ok()) << desc.error().message;
    std::string values;
    for (const RuntimeField& f : RuntimeFields()) {
      uint32_t v = (*dwarf).*f.member;
      values +=
          fmt::format(" {}={}", f.label, v == RuntimeOffsets::kAbsent ? "-" : std::to_string(v));
    }
    std::cout << fmt::format("{:<10} {:<7} dwarf{}  {} table, {} descriptors\n", version.raw,
                             ArchName(elf->arch()), values,
                             *dwarf == *table ? "==" : "MISMATCH with",
                             *dwarf == *desc ? "==" : "MISMATCH with");
    EXPECT_EQ(*dwarf, *table) << "table row for " << version.raw << " is wrong";
    EXPECT_EQ(*dwarf, *desc) << "type descriptors of " << version.raw << " misread ("
                             << desc->detail << ")";
  }
}

}  // namespace
}  // namespace cgotrace
