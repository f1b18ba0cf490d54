// Binary analysis on every compatibility-matrix binary (Go release x build
// mode x architecture, see tests/matrix/matrix_list.h): the parsers must
// agree with how each binary was built, and damaged copies of it - truncated
// at many offsets, or with one structure zeroed or overwritten with garbage -
// must give a clean one-line Error (or, where the damage does not matter, a
// correct result), never a crash or a read outside the file. The ASan build
// runs the same tests.
//
// Runs on the quick subset CMake builds, or on the whole matrix when
// scripts/matrix.sh sets $CGOTRACE_MATRIX_LIST.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../../matrix/matrix_list.h"
#include "binary/go_binary.h"
#include "elf/elf_file.h"
#include "gofile/go_buildinfo.h"
#include "gofile/go_pclntab.h"
#include "offsets/go_offsets.h"

namespace cgotrace {
namespace {

using matrix::Entry;

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A scratch file for damaged copies, removed at the end of the test.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& stem) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (stem + ".XXXXXX")).string();
    int fd = mkstemp(tmpl.data());
    if (fd >= 0) close(fd);
    path_ = tmpl;
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  void Write(const std::vector<uint8_t>& bytes, size_t len) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(len));
  }

 private:
  std::string path_;
};

std::string Setting(const GoBuildInfo& info, const std::string& key) {
  auto it = info.settings.find(key);
  return it == info.settings.end() ? "<unset>" : it->second;
}

// Every Error of cgotrace is one readable line (the CLI prints it as is).
void ExpectOneLine(const Error& e, const std::string& what) {
  EXPECT_FALSE(e.message.empty()) << what << ": empty error";
  EXPECT_EQ(e.message.find('\n'), std::string::npos) << what << ": " << e.message;
}

class MatrixAnalysisTest : public ::testing::TestWithParam<Entry> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(GetParam().path))
        << "matrix binary missing: " << GetParam().Describe()
        << " (scripts/matrix.sh or ninja matrix_fixtures builds it)";
  }
  // For scripts/matrix.sh's table (every test of an entry records; one FAIL
  // fails the cell).
  void TearDown() override { matrix::RecordResult(GetParam(), "analysis", !HasFailure()); }
};

TEST(MatrixAnalysisList, IsUsable) {
  const matrix::List& list = matrix::TheList();
  ASSERT_TRUE(list.error.empty()) << list.error;
  std::cout << "matrix list " << list.source << ": " << list.entries.size() << " binaries\n";
}

// ---------------------------------------------------------------------------
// The intact binary: each parser's view must match how it was built.

TEST_P(MatrixAnalysisTest, ParsersAgreeWithTheBuild) {
  const Entry& e = GetParam();
  auto elf = ElfFile::Open(e.path);
  ASSERT_TRUE(elf) << elf.error().message;
  EXPECT_EQ((*elf)->arch(), e.arch == "amd64" ? Arch::kX86_64 : Arch::kArm64);
  EXPECT_EQ((*elf)->is_pie(), e.mode == "pie");
  const bool stripped = e.mode == "stripped";
  EXPECT_EQ((*elf)->FindSection(".symtab") == nullptr, stripped);

  auto info = GoBuildInfo::Read(**elf);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->version.raw, e.version);
  EXPECT_EQ(info->version.minor, e.minor);
  EXPECT_EQ(info->main_path, "cgotrace.test/fixtures/" + e.Program());
  // Build settings are recorded since go1.18.
  if (e.minor >= 18) {
    EXPECT_EQ(Setting(*info, "GOARCH"), e.arch);
    EXPECT_EQ(Setting(*info, "CGO_ENABLED"), "1");
    const std::string ldflags = Setting(*info, "-ldflags");
    // -buildmode is recorded since go1.20, -trimpath since go1.19.
    if (e.mode == "pie" && e.minor >= 20) {
      EXPECT_EQ(Setting(*info, "-buildmode"), "pie");
    }
    if (e.mode == "race") {
      EXPECT_EQ(Setting(*info, "-race"), "true");
    }
    if (e.mode == "trimpath" && e.minor >= 19) {
      EXPECT_EQ(Setting(*info, "-trimpath"), "true");
    }
    if (e.mode == "v3") {
      EXPECT_EQ(Setting(*info, "GOAMD64"), "v3");
    }
    if (e.mode == "stripped") {
      EXPECT_NE(ldflags.find("-s -w"), std::string::npos) << ldflags;
    }
    if (e.mode == "extlink" || e.mode == "static") {
      EXPECT_NE(ldflags.find("-linkmode=external"), std::string::npos) << ldflags;
    }
    if (e.mode == "static") {
      EXPECT_NE(ldflags.find("-extldflags=-static"), std::string::npos) << ldflags;
    }
  }

  auto pcln = GoPclntab::Read(**elf);
  ASSERT_TRUE(pcln) << pcln.error().message;
  EXPECT_FALSE(pcln->FindAll("runtime.cgocall").empty());
  EXPECT_FALSE(pcln->FindAll("runtime.cgocallbackg").empty());
  EXPECT_FALSE(pcln->FindAll("main.main").empty());
  size_t cfuncs = 0;
  for (const GoFunc& f : pcln->funcs()) {
    EXPECT_LT(f.entry, f.end) << f.name;
    if (f.name.find("._Cfunc_") != std::string::npos) ++cfuncs;
  }
  EXPECT_GT(cfuncs, 3u) << "the program's C functions are in pclntab";

  // Offsets: DWARF where present; the type descriptors (in every binary) and
  // the version table must agree with it and with each other, field by field.
  auto dwarf = RuntimeOffsets::FromDwarf(**elf);
  EXPECT_EQ(dwarf.ok(), !stripped) << (dwarf ? "" : dwarf.error().message);
  auto table = RuntimeOffsets::FromTable(info->version);
  EXPECT_EQ(table.ok(), e.Supported()) << (table ? "" : table.error().message);
  auto desc = RuntimeOffsets::FromTypeDescriptors(**elf, info->version, *pcln);
  if (e.Supported()) {
    ASSERT_TRUE(desc) << desc.error().message;
    // The layout the reader used is the one of this release.
    const char* want_layout = e.minor <= 18   ? "structfield.offsetAnon (go1.17-1.18)"
                              : e.minor <= 20 ? "structfield.offset (go1.19-1.20)"
                                              : "internal/abi.Type (go1.21";
    EXPECT_NE(desc->detail.find(want_layout), std::string::npos) << desc->detail;
  }
  auto expect_same = [&](const RuntimeOffsets& a, const RuntimeOffsets& b) {
    for (const RuntimeField& f : RuntimeFields()) {
      EXPECT_EQ(a.*f.member, b.*f.member)
          << e.version << " " << f.label << ": " << a.source << " vs " << b.source;
    }
  };
  if (dwarf && table) expect_same(*dwarf, *table);
  if (dwarf && desc) expect_same(*dwarf, *desc);
  if (desc && table) expect_same(*desc, *table);

  auto bin = GoBinary::Analyze(e.path);
  if (!e.Supported()) {
    ASSERT_FALSE(bin) << e.version << " must be refused";
    ExpectOneLine(bin.error(), "refusal");
    EXPECT_NE(bin.error().message.find(e.version), std::string::npos) << bin.error().message;
    EXPECT_NE(bin.error().message.find("go1.17"), std::string::npos) << bin.error().message;
    return;
  }
  ASSERT_TRUE(bin) << bin.error().message;
  const RuntimeOffsets& used = (*bin)->offsets();
  EXPECT_EQ(used.source, stripped ? "type descriptors" : "dwarf");
  EXPECT_TRUE(used.warnings.empty()) << used.warnings.front();
  std::vector<std::string> want_agreeing;
  if (!stripped) want_agreeing.push_back("type descriptors");
  want_agreeing.push_back(fmt::format("table (go1.{})", e.minor));
  EXPECT_EQ(used.agreeing, want_agreeing);
  for (const ProbedFunction* fn : {&(*bin)->cgocall(), &(*bin)->cgocallback()}) {
    SCOPED_TRACE(fn->name);
    EXPECT_EQ(fn->found_by, stripped ? "pclntab" : ".symtab");
    ASSERT_GE(fn->sites.size(), 2u);
    EXPECT_EQ(fn->sites[0].kind, SiteKind::kEntry);
    EXPECT_EQ(fn->sites[0].vaddr, fn->entry);
    for (size_t i = 1; i < fn->sites.size(); ++i) {
      EXPECT_EQ(fn->sites[i].kind, SiteKind::kReturn);
      EXPECT_EQ(fn->sites[i].insn, "ret");
      EXPECT_EQ(fn->sites[i].bytes_hex, e.arch == "amd64" ? "c3" : "c0035fd6");
      EXPECT_LT(fn->sites[i].vaddr, fn->entry + fn->size);
      // Uprobes attach by file offset.
      auto off = (*bin)->elf().VaddrToFileOffset(fn->sites[i].vaddr);
      EXPECT_TRUE(off) << off.error().message;
    }
  }
}

// ---------------------------------------------------------------------------
// Damaged copies.

// Runs every parser on a damaged file. Nothing may crash; every error must be
// one line. Returns the Analyze result's error (nullopt if it succeeded).
std::optional<std::string> AnalyzeDamaged(const std::string& path, const std::string& what) {
  SCOPED_TRACE(what);
  if (auto elf = ElfFile::Open(path); elf) {
    if (auto info = GoBuildInfo::Read(**elf); !info) ExpectOneLine(info.error(), "buildinfo");
    if (auto pcln = GoPclntab::Read(**elf); pcln) {
      // Walk the decoded table the way naming does.
      for (const GoFunc& f : pcln->funcs()) (void)pcln->FuncAt(f.entry);
    } else {
      ExpectOneLine(pcln.error(), "pclntab");
    }
    if (auto d = RuntimeOffsets::FromDwarf(**elf); !d) ExpectOneLine(d.error(), "dwarf");
  } else {
    ExpectOneLine(elf.error(), "elf");
  }
  auto bin = GoBinary::Analyze(path);
  if (!bin) {
    ExpectOneLine(bin.error(), "analyze");
    return bin.error().message;
  }
  // Naming reads more of the file: exercise it on every probe site.
  for (const ProbedFunction* fn : {&(*bin)->cgocall(), &(*bin)->cgocallback()}) {
    for (const ProbeSite& s : fn->sites) {
      (void)(*bin)->CallName(s.vaddr, s.vaddr);
      (void)(*bin)->CallbackName(s.vaddr);
    }
  }
  return std::nullopt;
}

// Truncation: the section headers of these binaries are at the end of the
// file, so every truncated copy is incomplete and must be refused - with an
// Error, at whichever step first notices.
TEST_P(MatrixAnalysisTest, TruncatedCopiesAreRefusedCleanly) {
  const Entry& e = GetParam();
  const std::vector<uint8_t> bytes = ReadAll(e.path);
  ASSERT_GT(bytes.size(), 64u * 1024);
  auto elf = ElfFile::Open(e.path);
  ASSERT_TRUE(elf) << elf.error().message;

  const size_t n = bytes.size();
  std::vector<size_t> cuts = {0,      1,     4,     16,    52,        63,       64,     65,   4096,
                              n / 16, n / 8, n / 4, n / 2, 3 * n / 4, n - 4096, n - 64, n - 1};
  // Inside each structure a parser reads.
  for (const ElfSection& s : (*elf)->sections()) {
    if (s.type == 8 /* SHT_NOBITS */ || s.size == 0 || s.offset >= n) continue;
    for (const char* name :
         {".go.buildinfo", ".gopclntab", ".data.rel.ro", ".text", ".symtab", ".strtab", ".dynsym",
          ".debug_info", ".zdebug_info", ".note.go.buildid", ".noptrdata", ".rodata"}) {
      if (s.name == name) {
        cuts.push_back(s.offset);
        cuts.push_back(s.offset + std::min<uint64_t>(s.size - 1, 8));
        cuts.push_back(s.offset + s.size / 2);
      }
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

  ScratchFile copy("matrix-truncated");
  for (size_t cut : cuts) {
    if (cut >= n) continue;
    copy.Write(bytes, cut);
    auto error = AnalyzeDamaged(copy.path(), "truncated at " + std::to_string(cut));
    EXPECT_TRUE(error.has_value())
        << "a copy truncated at " << cut << " of " << n << " bytes was accepted";
  }
}

// One structure zeroed or overwritten at a time. Where the structure is
// essential (build info, pclntab header, the probed code) the copy must be
// refused; elsewhere the result must still be right or a clean Error.
TEST_P(MatrixAnalysisTest, CorruptedCopiesFailCleanly) {
  const Entry& e = GetParam();
  const std::vector<uint8_t> original = ReadAll(e.path);
  auto elf = ElfFile::Open(e.path);
  ASSERT_TRUE(elf) << elf.error().message;
  auto info = GoBuildInfo::Read(**elf);
  ASSERT_TRUE(info) << info.error().message;
  std::optional<RuntimeOffsets> table;
  if (auto t = RuntimeOffsets::FromTable(info->version); t) table = *t;

  std::optional<uint64_t> cgocall_off;
  uint64_t cgocall_size = 0;
  if (auto bin = GoBinary::Analyze(e.path); bin) {
    if (auto off = (*bin)->elf().VaddrToFileOffset((*bin)->cgocall().entry); off) {
      cgocall_off = *off;
      cgocall_size = (*bin)->cgocall().size;
    }
  }

  // The pclntab header: "magic, 0, 0, quantum (1 or 4), ptrsize 8". Not
  // always its own section (PIE and external linking put it in
  // .data.rel.ro), so found by pattern, as the reader itself may have to.
  std::optional<size_t> pcln_off;
  for (size_t i = 0; i + 8 <= original.size() && !pcln_off; i += 4) {
    const uint8_t* p = &original[i];
    if ((p[0] == 0xf1 || p[0] == 0xf0 || p[0] == 0xfa || p[0] == 0xfb) && p[1] == 0xff &&
        p[2] == 0xff && p[3] == 0xff && p[4] == 0 && p[5] == 0 && (p[6] == 1 || p[6] == 4) &&
        p[7] == 8) {
      pcln_off = i;
    }
  }
  ASSERT_TRUE(pcln_off) << "no pclntab header in " << e.path;

  struct Damage {
    std::string what;
    uint64_t offset;
    uint64_t len;
    bool garbage;  // PRNG bytes instead of zeros
    bool must_fail;
  };
  std::vector<Damage> damages;
  const ElfSection* sec_buildinfo = (*elf)->FindSection(".go.buildinfo");
  if (sec_buildinfo != nullptr) {
    damages.push_back(
        {"zeroed .go.buildinfo", sec_buildinfo->offset, sec_buildinfo->size, false, true});
  }
  damages.push_back({"zeroed pclntab header", *pcln_off, 64, false, true});
  damages.push_back({"garbage pclntab function table", *pcln_off + 64, 4096, true, false});
  damages.push_back({"garbage pclntab header", *pcln_off, 64, true, false});
  if (cgocall_off) {
    damages.push_back({"zeroed runtime.cgocall", *cgocall_off, cgocall_size, false, true});
    damages.push_back({"garbage runtime.cgocall", *cgocall_off, cgocall_size, true, false});
  }
  for (const ElfSection& s : (*elf)->sections()) {
    if (s.type == 8 /* SHT_NOBITS */ || s.size == 0) continue;
    if (s.name == ".debug_info" || s.name == ".zdebug_info" || s.name == ".debug_abbrev" ||
        s.name == ".zdebug_abbrev") {
      damages.push_back({"zeroed " + s.name, s.offset, s.size, false, false});
      damages.push_back(
          {"garbage " + s.name, s.offset, std::min<uint64_t>(s.size, 65536), true, false});
    }
    if (s.name == ".symtab" || s.name == ".strtab" || s.name == ".dynsym" ||
        s.name == ".note.go.buildid") {
      damages.push_back({"garbage " + s.name, s.offset, s.size, true, false});
    }
  }
  // The ELF headers themselves.
  uint64_t shoff = 0;
  std::memcpy(&shoff, &original[0x28], sizeof shoff);
  damages.push_back({"garbage program headers", 64, 56 * 4, true, false});
  damages.push_back({"garbage section headers", shoff, original.size() - shoff, true, false});
  damages.push_back({"garbage e_shoff..e_shstrndx", 0x28, 0x40 - 0x28, true, true});

  ScratchFile copy("matrix-corrupt");
  std::mt19937_64 prng(0x5eed);  // fixed: a failure reproduces
  for (const Damage& d : damages) {
    if (d.offset >= original.size()) continue;
    std::vector<uint8_t> bytes = original;
    const uint64_t end = std::min<uint64_t>(d.offset + d.len, bytes.size());
    for (uint64_t i = d.offset; i < end; ++i) {
      bytes[i] = d.garbage ? static_cast<uint8_t>(prng()) : 0;
    }
    copy.Write(bytes, bytes.size());
    auto error = AnalyzeDamaged(copy.path(), d.what);
    if (d.must_fail || !e.Supported()) {
      EXPECT_TRUE(error.has_value()) << d.what << ": accepted";
      continue;
    }
    if (error) continue;  // a clean refusal is fine
    // Accepted: then it must still be right. Offsets are the dangerous part:
    // wrong ones make the BPF side read the wrong field.
    auto bin = GoBinary::Analyze(copy.path());
    ASSERT_TRUE(bin);
    ASSERT_TRUE(table) << e.version;
    EXPECT_EQ((*bin)->offsets(), *table)
        << d.what << ": accepted with wrong offsets (" << (*bin)->offsets().source << ")";
    EXPECT_EQ((*bin)->buildinfo().version.raw, e.version) << d.what;
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, MatrixAnalysisTest, ::testing::ValuesIn(matrix::TheList().entries),
                         [](const auto& info) { return info.param.Name(); });

}  // namespace
}  // namespace cgotrace
