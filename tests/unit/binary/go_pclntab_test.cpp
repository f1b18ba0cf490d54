#include "gofile/go_pclntab.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <random>

#include "binary_fixture_util.h"

namespace cgotrace {
namespace {

using test::FixturePath;
using test::ReadBytes;
using test::TempFile;

struct Loaded {
  std::unique_ptr<ElfFile> elf;
  Result<GoPclntab> table = Error{"not read"};
};

Loaded Load(const std::string& path) {
  Loaded out;
  auto elf = ElfFile::Open(path);
  if (!elf.ok()) {
    out.table = elf.error();
    return out;
  }
  out.elf = std::move(*elf);
  out.table = GoPclntab::Read(*out.elf);
  return out;
}

// .symtab spells some names differently from pclntab: "·" is "." there, and
// assembly functions carry an ".abi0" suffix.
bool SameFunctionName(const std::string& pcln, const std::string& sym) {
  std::string norm = pcln;
  for (size_t pos; (pos = norm.find("\xc2\xb7")) != std::string::npos;) {
    norm.replace(pos, 2, ".");
  }
  return sym == norm || sym == norm + ".abi0";
}

// Every pclntab function must start exactly at a .symtab function of the
// same name in `reference` (the unstripped build of the same source).
void ExpectAgreesWithSymtab(const GoPclntab& table, const ElfFile& reference) {
  size_t checked = 0;
  for (const GoFunc& f : table.funcs()) {
    const ElfSymbol* sym = reference.FunctionAt(f.entry);
    ASSERT_NE(sym, nullptr) << f.name;
    EXPECT_EQ(sym->value, f.entry) << f.name << " vs " << sym->name;
    // Go 1.21+ abbreviates generic instantiations as [...] in pclntab.
    if (f.name.find("[...]") == std::string::npos) {
      EXPECT_TRUE(SameFunctionName(f.name, sym->name)) << f.name << " vs " << sym->name;
    }
    ++checked;
  }
  EXPECT_GT(checked, 1000u);
}

void ExpectWellFormed(const GoPclntab& table) {
  const auto& funcs = table.funcs();
  ASSERT_FALSE(funcs.empty());
  for (size_t i = 0; i < funcs.size(); ++i) {
    EXPECT_LE(funcs[i].entry, funcs[i].end) << funcs[i].name;
    if (i + 1 < funcs.size()) {
      EXPECT_EQ(funcs[i].end, funcs[i + 1].entry) << funcs[i].name;
    }
  }
}

TEST(GoPclntabTest, ReadsCgoFixture) {
  Loaded l = Load(FixturePath("cgocalls"));
  ASSERT_TRUE(l.table.ok()) << l.table.error().message;
  const GoPclntab& t = *l.table;
  EXPECT_EQ(t.magic(), 0xfffffff1u);
  const ElfSymbol* text = l.elf->FindSymbol("runtime.text");
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(t.text_start(), text->value);
  // runtime.text is not the .text section start in external links: crt
  // code comes first.
  EXPECT_GT(t.text_start(), l.elf->FindSection(".text")->addr);
  EXPECT_EQ(t.funcs().front().entry, t.text_start());
  ExpectWellFormed(t);
  ExpectAgreesWithSymtab(t, *l.elf);
}

TEST(GoPclntabTest, FindsCgoMachinery) {
  Loaded l = Load(FixturePath("cgocalls"));
  ASSERT_TRUE(l.table.ok()) << l.table.error().message;
  for (const char* name : {"runtime.cgocall", "runtime.asmcgocall", "runtime.cgocallbackg",
                           "main._Cfunc_fast_add", "main._Cfunc_sleep_us", "main.main"}) {
    auto found = l.table->FindAll(name);
    ASSERT_FALSE(found.empty()) << name;
    for (const GoFunc* f : found) {
      EXPECT_EQ(f->name, name);
      EXPECT_LT(f->entry, f->end);
    }
  }
  const ElfSymbol* sym = l.elf->FindSymbol("main._Cfunc_fast_add.abi0");
  ASSERT_NE(sym, nullptr);
  auto add = l.table->FindAll("main._Cfunc_fast_add");
  ASSERT_EQ(add.size(), 1u);
  EXPECT_EQ(add[0]->entry, sym->value);
  // pclntab ends a function where the next begins, alignment padding included.
  EXPECT_LE(sym->size, add[0]->end - add[0]->entry);
  EXPECT_GT(sym->size + 64, add[0]->end - add[0]->entry);
  EXPECT_TRUE(l.table->FindAll("main._Cfunc_no_such_function").empty());
}

TEST(GoPclntabTest, FuncAt) {
  Loaded l = Load(FixturePath("cgocalls"));
  ASSERT_TRUE(l.table.ok()) << l.table.error().message;
  const GoPclntab& t = *l.table;
  const GoFunc* add = t.FindAll("main._Cfunc_fast_add").at(0);
  EXPECT_EQ(t.FuncAt(add->entry), add);
  EXPECT_EQ(t.FuncAt(add->end - 1), add);
  EXPECT_NE(t.FuncAt(add->end), add);
  EXPECT_EQ(t.FuncAt(t.funcs().front().entry - 1), nullptr);
  EXPECT_EQ(t.FuncAt(t.funcs().back().end), nullptr);
  EXPECT_EQ(t.FuncAt(0), nullptr);
}

TEST(GoPclntabTest, StrippedMatchesUnstripped) {
  Loaded full = Load(FixturePath("cgocalls"));
  Loaded stripped = Load(FixturePath("cgocalls-stripped"));
  ASSERT_TRUE(full.table.ok()) << full.table.error().message;
  ASSERT_TRUE(stripped.table.ok()) << stripped.table.error().message;
  EXPECT_EQ(stripped.elf->FindSymbol("runtime.text"), nullptr);  // really stripped
  EXPECT_EQ(stripped.table->text_start(), full.table->text_start());
  const auto& a = full.table->funcs();
  const auto& b = stripped.table->funcs();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].entry, b[i].entry) << a[i].name;
    EXPECT_EQ(a[i].end, b[i].end) << a[i].name;
  }
  ExpectAgreesWithSymtab(*stripped.table, *full.elf);
}

TEST(GoPclntabTest, Pie) {
  Loaded pie = Load(FixturePath("cgocalls-pie"));
  ASSERT_TRUE(pie.table.ok()) << pie.table.error().message;
  const ElfSymbol* text = pie.elf->FindSymbol("runtime.text");
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(pie.table->text_start(), text->value);
  ExpectWellFormed(*pie.table);
  ExpectAgreesWithSymtab(*pie.table, *pie.elf);
}

// With .gopclntab renamed, the table is found through runtime.pclntab /
// runtime.firstmoduledata (symbols) or .go.module (stripped).
TEST(GoPclntabTest, FoundWithoutGopclntabSection) {
  for (const char* name : {"cgocalls", "cgocalls-stripped", "cgocalls-pie"}) {
    SCOPED_TRACE(name);
    Loaded original = Load(FixturePath(name));
    ASSERT_TRUE(original.table.ok());
    std::vector<uint8_t> bytes = ReadBytes(FixturePath(name));
    const ElfSection* shstrtab = original.elf->FindSection(".shstrtab");
    ASSERT_NE(shstrtab, nullptr);
    std::string names(bytes.begin() + shstrtab->offset,
                      bytes.begin() + shstrtab->offset + shstrtab->size);
    size_t pos = names.find(std::string(".gopclntab\0", 11));
    ASSERT_NE(pos, std::string::npos);
    bytes[shstrtab->offset + pos + 9] = 'X';
    TempFile copy(std::string("renamed-") + name, bytes);
    Loaded renamed = Load(copy.path());
    ASSERT_TRUE(renamed.table.ok()) << renamed.table.error().message;
    EXPECT_EQ(renamed.elf->FindSection(".gopclntab"), nullptr);
    EXPECT_EQ(renamed.table->text_start(), original.table->text_start());
    EXPECT_EQ(renamed.table->funcs().size(), original.table->funcs().size());
    EXPECT_EQ(renamed.table->funcs().back().end, original.table->funcs().back().end);
  }
}

// Without section headers there are no symbols either: only the header
// magic scan and a moduledata scan remain.
TEST(GoPclntabTest, FoundByScanWithoutSectionHeaders) {
  for (const char* name : {"cgocalls-stripped", "cgocalls-pie", "nocgo"}) {
    SCOPED_TRACE(name);
    Loaded original = Load(FixturePath(name));
    ASSERT_TRUE(original.table.ok());
    std::vector<uint8_t> bytes = ReadBytes(FixturePath(name));
    test::DropSectionHeaders(&bytes);
    TempFile copy(std::string("pcln-no-shdr-") + name, bytes);
    Loaded scanned = Load(copy.path());
    ASSERT_TRUE(scanned.table.ok()) << scanned.table.error().message;
    EXPECT_EQ(scanned.table->magic(), original.table->magic());
    EXPECT_EQ(scanned.table->text_start(), original.table->text_start());
    ASSERT_EQ(scanned.table->funcs().size(), original.table->funcs().size());
    for (size_t i = 0; i < scanned.table->funcs().size(); ++i) {
      EXPECT_EQ(scanned.table->funcs()[i].entry, original.table->funcs()[i].entry);
    }
  }
}

TEST(GoPclntabTest, Arm64) {
  std::string path = FixturePath("cgocalls-arm64");
  struct stat st {};
  // CMake always builds this fixture: its absence is a build bug, not a skip.
  ASSERT_EQ(stat(path.c_str(), &st), 0) << "missing arm64 fixture " << path;
  Loaded l = Load(path);
  ASSERT_TRUE(l.table.ok()) << l.table.error().message;
  EXPECT_EQ(l.elf->arch(), Arch::kArm64);
  ASSERT_FALSE(l.table->FindAll("main._Cfunc_fast_add").empty());
  ExpectAgreesWithSymtab(*l.table, *l.elf);
}

TEST(GoPclntabTest, NotAGoBinary) {
  char self[PATH_MAX] = {};
  ASSERT_GT(readlink("/proc/self/exe", self, sizeof(self) - 1), 0);
  Loaded l = Load(self);
  ASSERT_FALSE(l.table.ok());
  EXPECT_EQ(l.table.error().message,
            std::string(self) + ": no Go pclntab found (not a Go binary?)");
}

class CorruptPclntabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = FixturePath("cgocalls-stripped");
    bytes_ = ReadBytes(path_);
    auto elf = ElfFile::Open(path_);
    ASSERT_TRUE(elf.ok());
    section_ = *(*elf)->FindSection(".gopclntab");
    // Section header index of .gopclntab, to shrink its size field.
    for (size_t i = 0; i < (*elf)->sections().size(); ++i) {
      if ((*elf)->sections()[i].name == ".gopclntab") {
        index_ = i;
      }
    }
  }

  Result<GoPclntab> ReadCopy(const std::vector<uint8_t>& bytes) {
    TempFile file("corrupt-pclntab", bytes);
    Loaded l = Load(file.path());
    return std::move(l.table);
  }

  uint64_t SectionSizeOffset() const {
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes_.data(), sizeof(eh));
    return eh.e_shoff + index_ * eh.e_shentsize + offsetof(Elf64_Shdr, sh_size);
  }

  std::string path_;
  std::vector<uint8_t> bytes_;
  ElfSection section_;
  size_t index_ = 0;
};

TEST_F(CorruptPclntabTest, ShortenedSectionIsAnError) {
  // The _func records and names end well before the section does, so only
  // cuts into them (or the header) are detectable.
  for (uint64_t size :
       {uint64_t{0}, uint64_t{7}, uint64_t{40}, uint64_t{0x1000}, section_.size / 2}) {
    SCOPED_TRACE(size);
    std::vector<uint8_t> copy = bytes_;
    test::Poke<uint64_t>(&copy, SectionSizeOffset(), size);
    auto t = ReadCopy(copy);
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().message.find("pclntab"), std::string::npos) << t.error().message;
  }
}

TEST_F(CorruptPclntabTest, BadNameOffsetIsAnError) {
  std::vector<uint8_t> copy = bytes_;
  // Header: 8 bytes, then nfunc, nfiles, textStart, funcnameOffset, cuOffset,
  // filetabOffset, pctabOffset, pclnOffset (uintptrs); functab at pclnOffset.
  uint64_t pcln = 0;
  std::memcpy(&pcln, copy.data() + section_.offset + 8 + 7 * 8, 8);
  uint32_t funcoff = 0;
  std::memcpy(&funcoff, copy.data() + section_.offset + pcln + 4, 4);
  test::Poke<int32_t>(&copy, section_.offset + pcln + funcoff + 4, 0x7ffffff0);
  auto t = ReadCopy(copy);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("bad name offset"), std::string::npos) << t.error().message;
}

TEST_F(CorruptPclntabTest, RandomDamageNeverCrashes) {
  std::mt19937_64 rng(7);
  TempFile file("damaged-pclntab", {});
  int decoded = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<uint8_t> copy = bytes_;
    // Header bytes in early rounds, then the function table and _func data.
    uint64_t span = round < 80 ? 72 : 0x30000;
    for (int i = 0; i < 4; ++i) {
      copy[section_.offset + rng() % span] = static_cast<uint8_t>(rng());
    }
    file.Write(copy);
    Loaded l = Load(file.path());
    if (l.table.ok()) {
      ++decoded;
      ExpectWellFormed(*l.table);
    } else {
      EXPECT_EQ(l.table.error().message.find('\n'), std::string::npos);
    }
  }
  EXPECT_GT(decoded, 0);  // some damage (pctab bytes, padding) is harmless
}

}  // namespace
}  // namespace cgotrace

namespace cgotrace {
namespace {

// The 1-based line of the first line of `path` containing `text` (0 if none):
// the expected lines follow the fixture's source instead of being hard-coded.
uint32_t SourceLine(const std::string& path, const std::string& text) {
  std::ifstream in(path);
  std::string line;
  for (uint32_t n = 1; std::getline(in, line); ++n) {
    if (line.find(text) != std::string::npos) return n;
  }
  return 0;
}

// File and line of every instruction of main.runFast lie in its body, the
// entry is on its `func` line, and stripped / PIE builds agree.
TEST(GoPclntabTest, LineAt) {
  const std::string source = std::string(CGOTRACE_SOURCE_DIR) + "/tests/fixtures/cgocalls/main.go";
  const uint32_t func_line = SourceLine(source, "func runFast(out *goroutineTruth) {");
  const uint32_t call_line = SourceLine(source, "C.fast_add(C.int(i), 1)");
  ASSERT_GT(func_line, 0u) << source;
  ASSERT_EQ(call_line, func_line + 2) << source;
  for (const char* name : {"cgocalls", "cgocalls-stripped", "cgocalls-pie"}) {
    SCOPED_TRACE(name);
    Loaded l = Load(FixturePath(name));
    ASSERT_TRUE(l.table.ok()) << l.table.error().message;
    const GoPclntab& t = *l.table;
    const GoFunc* fn = t.FindAll("main.runFast").at(0);
    auto at_entry = t.LineAt(fn->entry);
    ASSERT_TRUE(at_entry.has_value());
    EXPECT_TRUE(at_entry->file.ends_with("tests/fixtures/cgocalls/main.go")) << at_entry->file;
    EXPECT_EQ(at_entry->line, func_line);
    bool saw_call_line = false;
    uint64_t with_line = 0;
    for (uint64_t pc = fn->entry; pc < fn->end; ++pc) {
      auto at = t.LineAt(pc);
      if (!at) {
        continue;  // the padding after the last instruction has no line
      }
      ++with_line;
      EXPECT_EQ(at->file, at_entry->file);
      EXPECT_GE(at->line, func_line);
      EXPECT_LE(at->line, func_line + 5);  // the closing brace
      saw_call_line |= at->line == call_line;
    }
    EXPECT_TRUE(saw_call_line);
    EXPECT_GT(with_line, (fn->end - fn->entry) * 3 / 4);
    EXPECT_FALSE(t.LineAt(fn->end + (1u << 30)).has_value());
  }
}

}  // namespace
}  // namespace cgotrace
