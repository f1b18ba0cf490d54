#include "binary/go_offsets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "binary/go_buildinfo.h"
#include "elf/elf_file.h"

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

RuntimeOffsets Offsets(uint32_t goid, uint32_t m_procid, uint32_t m_curg) {
  RuntimeOffsets o;
  o.g_goid = goid;
  o.g_stack_lo = 0;
  o.g_stack_hi = 8;
  o.g_m = 48;
  o.m_procid = m_procid;
  o.m_curg = m_curg;
  return o;
}

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

// Values read from the DWARF of go1.X binaries (docs/offsets.md).
TEST(GoOffsetsTableTest, KnownVersions) {
  const struct {
    int minor, patch;
    RuntimeOffsets want;
  } cases[] = {
      {17, 0, Offsets(152, 72, 192)},  {17, 13, Offsets(152, 72, 192)},
      {18, 10, Offsets(152, 72, 192)}, {19, 13, Offsets(152, 72, 192)},
      {20, 14, Offsets(152, 72, 192)}, {21, 0, Offsets(152, 72, 192)},
      {22, 12, Offsets(152, 72, 192)}, {23, 0, Offsets(160, 72, 192)},
      {24, 13, Offsets(160, 72, 192)}, {25, 0, Offsets(152, 64, 184)},
      {25, 9, Offsets(152, 64, 184)},  {26, 8, Offsets(152, 64, 184)},
  };
  for (const auto& c : cases) {
    Result<RuntimeOffsets> got = RuntimeOffsets::FromTable(Version(c.minor, c.patch));
    ASSERT_TRUE(got.ok()) << "go1." << c.minor << ": " << got.error().message;
    EXPECT_EQ(*got, c.want) << "go1." << c.minor << "." << c.patch << " goid=" << got->g_goid
                            << " procid=" << got->m_procid << " curg=" << got->m_curg;
    EXPECT_EQ(got->source, fmt::format("table (go1.{})", c.minor));
  }
}

TEST(GoOffsetsTableTest, NewerVersionErrorNamesIt) {
  Result<RuntimeOffsets> got = RuntimeOffsets::FromTable(Version(27, 0));
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message, HasSubstr("go1.27.0"));
  EXPECT_THAT(got.error().message, HasSubstr("newer"));
  EXPECT_THAT(got.error().message, HasSubstr("go1.17-go1.26"));
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

// Keeps the table honest for whatever Go built the fixtures.
TEST(GoOffsetsDwarfTest, FixtureDwarfMatchesTable) {
  for (const char* name : {"cgocalls", "cgocalls-pie", "nocgo"}) {
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
    EXPECT_EQ(*dwarf, *table) << version.raw << ": dwarf goid=" << dwarf->g_goid
                              << " procid=" << dwarf->m_procid << " curg=" << dwarf->m_curg
                              << ", table goid=" << table->g_goid << " procid=" << table->m_procid
                              << " curg=" << table->m_curg;
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

TEST(GoOffsetsForTest, PrefersDwarfThenTable) {
  std::unique_ptr<ElfFile> full = OpenFixture(kFixtureDir + "/cgocalls");
  std::unique_ptr<ElfFile> stripped = OpenFixture(kFixtureDir + "/cgocalls-stripped");
  ASSERT_NE(full, nullptr);
  ASSERT_NE(stripped, nullptr);
  GoVersion version = VersionOf(*stripped);

  Result<RuntimeOffsets> from_dwarf = RuntimeOffsets::For(*full, version);
  ASSERT_TRUE(from_dwarf.ok()) << from_dwarf.error().message;
  EXPECT_EQ(from_dwarf->source, "dwarf");

  Result<RuntimeOffsets> from_table = RuntimeOffsets::For(*stripped, version);
  ASSERT_TRUE(from_table.ok()) << from_table.error().message;
  EXPECT_EQ(from_table->source, fmt::format("table (go1.{})", version.minor));
  EXPECT_EQ(*from_table, *from_dwarf);
}

TEST(GoOffsetsForTest, UnknownVersionWithoutDwarfExplainsBoth) {
  std::unique_ptr<ElfFile> stripped = OpenFixture(kFixtureDir + "/cgocalls-stripped");
  ASSERT_NE(stripped, nullptr);
  Result<RuntimeOffsets> got = RuntimeOffsets::For(*stripped, Version(27, 0));
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.error().message,
              HasSubstr("Go version go1.27.0 is newer than cgotrace's offset table (known: "
                        "go1.17-go1.26) and the binary has no usable DWARF"));
  EXPECT_THAT(got.error().message, HasSubstr("rebuild without -w or upgrade cgotrace"));
}

// Binaries built by other toolchains (scripts/verify-offsets.sh writes the
// list). The installed toolchain's fixture is always checked as well, so this
// test never passes without comparing anything.
TEST(OffsetsMatrix, TableMatchesDwarf) {
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
    ASSERT_TRUE(dwarf.ok()) << dwarf.error().message;
    ASSERT_TRUE(table.ok()) << table.error().message;
    std::cout << fmt::format("{:<10} {:<7} dwarf goid={} stack={}/{} m={} procid={} curg={}  {}\n",
                             version.raw, ArchName(elf->arch()), dwarf->g_goid, dwarf->g_stack_lo,
                             dwarf->g_stack_hi, dwarf->g_m, dwarf->m_procid, dwarf->m_curg,
                             *dwarf == *table ? "== table" : "MISMATCH with table");
    EXPECT_EQ(*dwarf, *table) << "table row for " << version.raw << " is wrong";
  }
}

}  // namespace
}  // namespace cgotrace
