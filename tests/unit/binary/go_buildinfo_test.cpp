#include "gofile/go_buildinfo.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>

#include "binary_fixture_util.h"

namespace cgotrace {
namespace {

using test::FixturePath;
using test::ReadBytes;
using test::TempFile;

Result<GoBuildInfo> ReadInfo(const std::string& path) {
  auto elf = ElfFile::Open(path);
  if (!elf.ok()) {
    return elf.error();
  }
  return GoBuildInfo::Read(**elf);
}

// runtime.buildVersion, read through the symbol table: an independent
// source for the version recorded in .go.buildinfo.
std::string RuntimeBuildVersion(const ElfFile& elf) {
  const ElfSymbol* sym = elf.FindSymbol("runtime.buildVersion");
  if (sym == nullptr) {
    return "";
  }
  auto header = elf.ReadVaddr(sym->value, 16);
  if (!header.ok()) {
    return "";
  }
  uint64_t ptr = 0;
  uint64_t len = 0;
  std::memcpy(&ptr, header->data(), 8);
  std::memcpy(&len, header->data() + 8, 8);
  auto bytes = elf.ReadVaddr(ptr, len);
  return bytes.ok() ? std::string(bytes->begin(), bytes->end()) : "";
}

TEST(GoVersionTest, ParsesReleases) {
  auto v = GoVersion::Parse("go1.26.8");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->major, 1);
  EXPECT_EQ(v->minor, 26);
  EXPECT_EQ(v->patch, 8);
  EXPECT_EQ(v->raw, "go1.26.8");

  v = GoVersion::Parse("go1.17");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->minor, 17);
  EXPECT_EQ(v->patch, 0);

  v = GoVersion::Parse("go1.21.0");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->minor, 21);
  EXPECT_EQ(v->patch, 0);
}

TEST(GoVersionTest, ParsesPrereleasesAndExperiments) {
  auto rc = GoVersion::Parse("go1.22rc1");
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(rc->minor, 22);
  EXPECT_EQ(rc->patch, 0);
  EXPECT_EQ(rc->raw, "go1.22rc1");
  auto beta = GoVersion::Parse("go1.23beta2");
  ASSERT_TRUE(beta.ok());
  EXPECT_EQ(beta->minor, 23);

  auto exp = GoVersion::Parse("go1.25.1 X:nocoverageredesign");
  ASSERT_TRUE(exp.ok());
  EXPECT_EQ(exp->minor, 25);
  EXPECT_EQ(exp->patch, 1);
  EXPECT_EQ(exp->raw, "go1.25.1 X:nocoverageredesign");
}

TEST(GoVersionTest, RejectsOthers) {
  for (const char* bad : {"devel go1.27-4a5b6c7 Mon Jan 1 00:00:00 2026 +0000", "", "go", "1.21.0",
                          "go1", "go1.x", "go1.21.", "go1.21.3.4", "go1.21-custom", "gccgo"}) {
    auto v = GoVersion::Parse(bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_NE(v.error().message.find(bad), std::string::npos) << v.error().message;
  }
}

TEST(GoVersionTest, AtLeast) {
  auto v = GoVersion::Parse("go1.21.5");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->AtLeast(1, 21));
  EXPECT_TRUE(v->AtLeast(1, 17));
  EXPECT_FALSE(v->AtLeast(1, 22));
  EXPECT_FALSE(v->AtLeast(2, 0));
}

TEST(GoBuildInfoTest, ReadsCgoFixture) {
  std::string path = FixturePath("cgocalls");
  auto elf = ElfFile::Open(path);
  ASSERT_TRUE(elf.ok());
  auto info = GoBuildInfo::Read(**elf);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->version.raw, RuntimeBuildVersion(**elf));
  EXPECT_EQ(info->version.major, 1);
  EXPECT_GE(info->version.minor, 21);  // the fixtures' go.mod minimum
  EXPECT_EQ(info->main_path, "cgotrace.test/fixtures/cgocalls");
  EXPECT_EQ(info->module_path, "cgotrace.test/fixtures");
  EXPECT_EQ(info->settings.at("CGO_ENABLED"), "1");
  EXPECT_EQ(info->settings.at("GOARCH"), "amd64");
  EXPECT_EQ(info->settings.at("-buildmode"), "exe");
  EXPECT_EQ(info->settings.count("-ldflags"), 0u);
  EXPECT_EQ(info->modinfo.rfind("path\tcgotrace.test/fixtures/cgocalls\n", 0), 0u);
}

TEST(GoBuildInfoTest, UnquotesLdflags) {
  auto info = ReadInfo(FixturePath("cgocalls-stripped"));
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->settings.at("-ldflags"), "-s -w");
  EXPECT_NE(info->modinfo.find("build\t-ldflags=\"-s -w\"\n"), std::string::npos);
}

TEST(GoBuildInfoTest, BuildModesAndCgo) {
  auto pie = ReadInfo(FixturePath("cgocalls-pie"));
  ASSERT_TRUE(pie.ok()) << pie.error().message;
  EXPECT_EQ(pie->settings.at("-buildmode"), "pie");
  auto nocgo = ReadInfo(FixturePath("nocgo"));
  ASSERT_TRUE(nocgo.ok()) << nocgo.error().message;
  EXPECT_EQ(nocgo->settings.at("CGO_ENABLED"), "0");
  EXPECT_EQ(nocgo->main_path, "cgotrace.test/fixtures/nocgo");
}

TEST(GoBuildInfoTest, RecordsDependencies) {
  auto info = ReadInfo(FixturePath("sqlite"));
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_NE(info->modinfo.find("\ndep\tgithub.com/mattn/go-sqlite3\tv1."), std::string::npos)
      << info->modinfo;
  // Sentinels stripped: the text ends with the last line's newline.
  ASSERT_FALSE(info->modinfo.empty());
  EXPECT_EQ(info->modinfo.back(), '\n');
}

TEST(GoBuildInfoTest, FoundByScanWithoutSectionHeaders) {
  auto original = ReadInfo(FixturePath("cgocalls-pie"));
  ASSERT_TRUE(original.ok());
  std::vector<uint8_t> bytes = ReadBytes(FixturePath("cgocalls-pie"));
  test::DropSectionHeaders(&bytes);
  TempFile copy("buildinfo-no-shdr", bytes);
  auto info = ReadInfo(copy.path());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->version.raw, original->version.raw);
  EXPECT_EQ(info->modinfo, original->modinfo);
  EXPECT_EQ(info->settings, original->settings);
}

TEST(GoBuildInfoTest, NotAGoBinary) {
  char self[PATH_MAX] = {};
  ASSERT_GT(readlink("/proc/self/exe", self, sizeof(self) - 1), 0);
  auto info = ReadInfo(self);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().message, std::string(self) + ": not a Go binary (no Go build info)");
}

// Only writable data is searched, and only without section headers: a
// magic constant in read-only data (as in any build-info parser) is not
// build info.
TEST(GoBuildInfoTest, IgnoresMagicOutsideWritableData) {
  std::string path = FixturePath("nocgo");
  auto elf = ElfFile::Open(path);
  ASSERT_TRUE(elf.ok());
  const ElfSection* blob = (*elf)->FindSection(".go.buildinfo");
  const ElfSection* rodata = (*elf)->FindSection(".rodata");
  ASSERT_NE(blob, nullptr);
  ASSERT_NE(rodata, nullptr);
  std::vector<uint8_t> bytes = ReadBytes(path);
  uint64_t fake = (rodata->offset + 0xff) & ~uint64_t{0xf};
  ASSERT_EQ((rodata->addr + (fake - rodata->offset)) % 16, 0u);
  std::copy_n(bytes.begin() + blob->offset, 32, bytes.begin() + fake);
  bytes[blob->offset] = 0;  // the real blob is gone

  TempFile with_sections("buildinfo-fake-rodata", bytes);
  auto a = ReadInfo(with_sections.path());
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find(".go.buildinfo is truncated or lacks the Go buildinfo magic"),
            std::string::npos)
      << a.error().message;

  test::DropSectionHeaders(&bytes);
  TempFile without_sections("buildinfo-fake-rodata-no-shdr", bytes);
  auto b = ReadInfo(without_sections.path());
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("not a Go binary"), std::string::npos) << b.error().message;
}

TEST(GoBuildInfoTest, MalformedBlobIsAnError) {
  std::string path = FixturePath("nocgo");
  auto elf = ElfFile::Open(path);
  ASSERT_TRUE(elf.ok());
  const ElfSection* s = (*elf)->FindSection(".go.buildinfo");
  ASSERT_NE(s, nullptr);
  std::vector<uint8_t> bytes = ReadBytes(path);

  std::vector<uint8_t> runaway = bytes;  // a varint length that never ends
  std::fill_n(runaway.begin() + s->offset + 32, 12, 0xff);
  TempFile a("buildinfo-varint", runaway);
  auto info = ReadInfo(a.path());
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message.find("truncated"), std::string::npos) << info.error().message;

  std::vector<uint8_t> huge = bytes;  // a length past the section end
  huge[s->offset + 32] = 0xff;
  huge[s->offset + 33] = 0x7f;
  TempFile b("buildinfo-length", huge);
  EXPECT_FALSE(ReadInfo(b.path()).ok());

  std::vector<uint8_t> devel = bytes;  // a version string that is not a release
  ASSERT_EQ(devel[s->offset + 33], 'g');
  std::copy_n("devel", 5, devel.begin() + s->offset + 33);
  TempFile c("buildinfo-devel", devel);
  info = ReadInfo(c.path());
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message.find("devel"), std::string::npos) << info.error().message;
}

}  // namespace
}  // namespace cgotrace
