#include "elf/elf_file.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <random>

#include "binary_fixture_util.h"

namespace cgotrace {
namespace {

using test::FixturePath;
using test::ReadBytes;
using test::TempFile;

std::unique_ptr<ElfFile> OpenOrDie(const std::string& path) {
  auto elf = ElfFile::Open(path);
  EXPECT_TRUE(elf.ok()) << (elf.ok() ? "" : elf.error().message);
  return elf.ok() ? std::move(*elf) : nullptr;
}

// Exercises every accessor that reads file bytes; used on damaged files,
// where only the absence of crashes (and sanitizer reports) is asserted.
void TouchEverything(const ElfFile& elf) {
  for (const ElfSection& s : elf.sections()) {
    (void)elf.SectionData(s);
  }
  for (const ElfSymbol& s : elf.symbols()) {
    (void)elf.FunctionAt(s.value);
    (void)elf.ReadVaddr(s.value, 16);
  }
  for (const ElfSegment& seg : elf.load_segments()) {
    (void)elf.ReadVaddr(seg.vaddr, seg.filesz);
    (void)elf.VaddrToFileOffset(seg.vaddr + seg.memsz - 1);
  }
  (void)elf.FindSymbol("main.main");
}

void ExpectOpenIsCleanOrFails(const TempFile& file) {
  auto elf = ElfFile::Open(file.path());
  if (elf.ok()) {
    TouchEverything(**elf);
  } else {
    EXPECT_EQ(elf.error().message.rfind(file.path() + ": ", 0), 0u) << elf.error().message;
    EXPECT_EQ(elf.error().message.find('\n'), std::string::npos);
  }
}

TEST(ElfFileTest, OpensCgoFixture) {
  auto elf = OpenOrDie(FixturePath("cgocalls"));
  ASSERT_NE(elf, nullptr);
  EXPECT_EQ(elf->arch(), Arch::kX86_64);
  EXPECT_STREQ(ArchName(elf->arch()), "x86_64");
  EXPECT_FALSE(elf->is_pie());
  const ElfSection* text = elf->FindSection(".text");
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(text->type, uint32_t{SHT_PROGBITS});
  EXPECT_TRUE(text->flags & SHF_EXECINSTR);
  EXPECT_NE(elf->FindSection(".go.buildinfo"), nullptr);
  EXPECT_EQ(elf->FindSection(".no.such.section"), nullptr);
  EXPECT_GE(elf->load_segments().size(), 2u);
}

TEST(ElfFileTest, PieFixtureIsPie) {
  auto elf = OpenOrDie(FixturePath("cgocalls-pie"));
  ASSERT_NE(elf, nullptr);
  EXPECT_TRUE(elf->is_pie());
}

TEST(ElfFileTest, SectionDataMatchesFileBytes) {
  std::string path = FixturePath("cgocalls");
  auto elf = OpenOrDie(path);
  ASSERT_NE(elf, nullptr);
  std::vector<uint8_t> file = ReadBytes(path);
  const ElfSection* pcln = elf->FindSection(".gopclntab");
  ASSERT_NE(pcln, nullptr);
  auto data = elf->SectionData(*pcln);
  ASSERT_TRUE(data.ok());
  ASSERT_EQ(data->size(), pcln->size);
  EXPECT_TRUE(std::equal(data->begin(), data->end(), file.begin() + pcln->offset));
  const ElfSection* bss = elf->FindSection(".bss");
  ASSERT_NE(bss, nullptr);
  auto bss_data = elf->SectionData(*bss);
  ASSERT_TRUE(bss_data.ok());
  EXPECT_TRUE(bss_data->empty());
}

TEST(ElfFileTest, SymbolsSortedAndDefined) {
  auto elf = OpenOrDie(FixturePath("cgocalls"));
  ASSERT_NE(elf, nullptr);
  const auto& syms = elf->symbols();
  ASSERT_GT(syms.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(syms.begin(), syms.end(), [](const ElfSymbol& a, const ElfSymbol& b) {
    return a.value < b.value;
  }));
  for (const ElfSymbol& s : syms) {
    EXPECT_FALSE(s.name.empty());
  }
  // Undefined imports like malloc are left out.
  EXPECT_EQ(elf->FindSymbol("malloc"), nullptr);
}

TEST(ElfFileTest, FindSymbolPrefersSymtab) {
  auto elf = OpenOrDie(FixturePath("cgocalls"));
  ASSERT_NE(elf, nullptr);
  // crosscall2 is exported, so it is in both .dynsym and .symtab.
  size_t copies = std::count_if(elf->symbols().begin(), elf->symbols().end(),
                                [](const ElfSymbol& s) { return s.name == "crosscall2"; });
  EXPECT_EQ(copies, 2u);
  const ElfSymbol* sym = elf->FindSymbol("crosscall2");
  ASSERT_NE(sym, nullptr);
  EXPECT_FALSE(sym->dynamic);
  EXPECT_EQ(sym->type, STT_FUNC);
}

TEST(ElfFileTest, FunctionAtCoversSymbolRange) {
  auto elf = OpenOrDie(FixturePath("cgocalls"));
  ASSERT_NE(elf, nullptr);
  const ElfSymbol* add = elf->FindSymbol("main._Cfunc_fast_add.abi0");
  ASSERT_NE(add, nullptr);
  ASSERT_GT(add->size, 1u);
  const ElfSection* text = elf->FindSection(".text");
  ASSERT_NE(text, nullptr);
  EXPECT_GE(add->value, text->addr);
  EXPECT_LT(add->value, text->addr + text->size);
  EXPECT_EQ(elf->FunctionAt(add->value), add);
  EXPECT_EQ(elf->FunctionAt(add->value + add->size - 1), add);
  // Alignment padding after a function belongs to no symbol.
  EXPECT_NE(elf->FunctionAt(add->value + add->size), add);
  auto next = std::find_if(elf->symbols().begin(), elf->symbols().end(), [&](const ElfSymbol& s) {
    return s.type == STT_FUNC && s.value > add->value;
  });
  ASSERT_NE(next, elf->symbols().end());
  EXPECT_EQ(elf->FunctionAt(next->value), &*next);
  EXPECT_EQ(elf->FunctionAt(0), nullptr);
}

TEST(ElfFileTest, SizeZeroFunctionsExtendToNextFunction) {
  auto elf = OpenOrDie(FixturePath("cgocalls"));
  ASSERT_NE(elf, nullptr);
  // runtime.text is a size-0 label at the first Go function: the sized
  // function wins there.
  const ElfSymbol* text = elf->FindSymbol("runtime.text");
  ASSERT_NE(text, nullptr);
  ASSERT_EQ(text->size, 0u);
  const ElfSymbol* first = elf->FunctionAt(text->value);
  ASSERT_NE(first, nullptr);
  EXPECT_NE(first->name, "runtime.text");
  EXPECT_EQ(first->value, text->value);
  // crt's frame_dummy has no size; it runs up to the next function symbol.
  const ElfSymbol* dummy = elf->FindSymbol("frame_dummy");
  if (dummy == nullptr || dummy->size != 0) {
    GTEST_SKIP() << "crt has no size-0 frame_dummy";
  }
  EXPECT_EQ(elf->FunctionAt(dummy->value + 1), dummy);
  EXPECT_NE(elf->FunctionAt(text->value), dummy);
}

TEST(ElfFileTest, AddressTranslation) {
  auto elf = OpenOrDie(FixturePath("cgocalls-pie"));
  ASSERT_NE(elf, nullptr);
  const ElfSection* text = elf->FindSection(".text");
  ASSERT_NE(text, nullptr);
  auto off = elf->VaddrToFileOffset(text->addr + 0x10);
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(*off, text->offset + 0x10);
  auto bytes = elf->ReadVaddr(text->addr, 16);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->data(), elf->bytes().data() + text->offset);

  const ElfSection* bss = elf->FindSection(".bss");
  ASSERT_NE(bss, nullptr);
  auto in_bss = elf->VaddrToFileOffset(bss->addr + 8);
  ASSERT_FALSE(in_bss.ok());
  EXPECT_NE(in_bss.error().message.find("not file-backed"), std::string::npos);
  auto unmapped = elf->ReadVaddr(0xdead00000000, 4);
  ASSERT_FALSE(unmapped.ok());
  EXPECT_NE(unmapped.error().message.find("0xdead00000000"), std::string::npos);
  const ElfSegment& last = elf->load_segments().back();
  EXPECT_FALSE(elf->ReadVaddr(last.vaddr + last.filesz - 4, 8).ok());
  EXPECT_TRUE(elf->ReadVaddr(last.vaddr + last.filesz - 8, 8).ok());
}

TEST(ElfFileTest, GnuBuildIdIsHex) {
  std::string path = FixturePath("cgocalls");
  auto elf = OpenOrDie(path);
  ASSERT_NE(elf, nullptr);
  const ElfSection* note = elf->FindSection(".note.gnu.build-id");
  ASSERT_NE(note, nullptr);
  // Note layout: namesz, descsz, type, "GNU\0", then the id bytes.
  std::vector<uint8_t> file = ReadBytes(path);
  uint32_t descsz = 0;
  std::memcpy(&descsz, file.data() + note->offset + 4, 4);
  std::string expected;
  for (uint32_t i = 0; i < descsz; ++i) {
    expected += fmt::format("{:02x}", file[note->offset + 16 + i]);
  }
  EXPECT_EQ(descsz, 20u);
  EXPECT_EQ(elf->build_id(), expected);
}

TEST(ElfFileTest, FallsBackToGoBuildId) {
  std::string path = FixturePath("cgocalls");
  auto elf = OpenOrDie(path);
  ASSERT_NE(elf, nullptr);
  const ElfSection* note = elf->FindSection(".note.gnu.build-id");
  ASSERT_NE(note, nullptr);
  std::vector<uint8_t> bytes = ReadBytes(path);
  test::Poke<uint32_t>(&bytes, note->offset + 8, 0x99);  // no longer NT_GNU_BUILD_ID
  TempFile copy("no-gnu-id", bytes);
  auto patched = OpenOrDie(copy.path());
  ASSERT_NE(patched, nullptr);
  // A Go build id is actionID/contentID, each half itself two parts.
  const std::string& id = patched->build_id();
  EXPECT_EQ(std::count(id.begin(), id.end(), '/'), 3) << id;
  EXPECT_NE(id, elf->build_id());
}

TEST(ElfFileTest, WorksWithoutSectionHeaders) {
  std::vector<uint8_t> bytes = ReadBytes(FixturePath("cgocalls"));
  auto original = OpenOrDie(FixturePath("cgocalls"));
  ASSERT_NE(original, nullptr);
  test::DropSectionHeaders(&bytes);
  TempFile copy("no-shdr", bytes);
  auto elf = OpenOrDie(copy.path());
  ASSERT_NE(elf, nullptr);
  EXPECT_TRUE(elf->sections().empty());
  EXPECT_TRUE(elf->symbols().empty());
  EXPECT_EQ(elf->load_segments().size(), original->load_segments().size());
  // Found through PT_NOTE instead.
  EXPECT_EQ(elf->build_id(), original->build_id());
}

TEST(ElfFileTest, OpenErrorsNameThePath) {
  auto missing = ElfFile::Open("/nonexistent/cgotrace-app");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message.rfind("/nonexistent/cgotrace-app: ", 0), 0u);

  TempFile text("not-elf", std::vector<uint8_t>(100, 'x'));
  auto not_elf = ElfFile::Open(text.path());
  ASSERT_FALSE(not_elf.ok());
  EXPECT_EQ(not_elf.error().message, text.path() + ": not an ELF file");

  TempFile empty("empty", {});
  EXPECT_FALSE(ElfFile::Open(empty.path()).ok());
  auto dir = ElfFile::Open(CGOTRACE_FIXTURE_DIR);
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find("not a regular file"), std::string::npos);

  std::vector<uint8_t> elf32 = ReadBytes(FixturePath("nocgo"));
  elf32[EI_CLASS] = ELFCLASS32;
  TempFile copy("elf32", elf32);
  auto wrong_class = ElfFile::Open(copy.path());
  ASSERT_FALSE(wrong_class.ok());
  EXPECT_EQ(wrong_class.error().message, copy.path() + ": not a 64-bit ELF file");
}

TEST(ElfFileTest, TruncatedFilesFailCleanly) {
  std::vector<uint8_t> bytes = ReadBytes(FixturePath("cgocalls-stripped"));
  ASSERT_GT(bytes.size(), 100000u);
  TempFile file("truncated", {});
  std::vector<size_t> cuts = {1, 4, 16, 63, 64, 65, 0x78, 0x100, 0x1000};
  for (size_t k = 1; k < 16; ++k) {
    cuts.push_back(bytes.size() * k / 16);
  }
  cuts.push_back(bytes.size() - 1);
  for (size_t cut : cuts) {
    SCOPED_TRACE(cut);
    file.Write(std::vector<uint8_t>(bytes.begin(), bytes.begin() + cut));
    auto elf = ElfFile::Open(file.path());
    // The section header table is at the end: every cut loses it.
    ASSERT_FALSE(elf.ok());
    EXPECT_EQ(elf.error().message.rfind(file.path() + ": ", 0), 0u);
  }
  file.Write(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 0x80));
  auto short_file = ElfFile::Open(file.path());
  ASSERT_FALSE(short_file.ok());
  EXPECT_EQ(short_file.error().message, file.path() + ": truncated program header table");
}

TEST(ElfFileTest, CorruptHeaderFieldsFailCleanly) {
  std::vector<uint8_t> bytes = ReadBytes(FixturePath("cgocalls-stripped"));
  TempFile file("corrupt-header", {});
  // Every byte of the ELF header, set to values that stress bounds checks.
  for (size_t off = EI_NIDENT; off < sizeof(Elf64_Ehdr); ++off) {
    for (uint8_t value : {uint8_t{0x00}, uint8_t{0x7f}, uint8_t{0xff}}) {
      SCOPED_TRACE(::testing::Message() << "offset " << off << " value " << int{value});
      std::vector<uint8_t> copy = bytes;
      copy[off] = value;
      file.Write(copy);
      ExpectOpenIsCleanOrFails(file);
    }
  }
}

TEST(ElfFileTest, RandomByteFlipsFailCleanly) {
  std::vector<uint8_t> bytes = ReadBytes(FixturePath("cgocalls"));
  auto elf = OpenOrDie(FixturePath("cgocalls"));
  ASSERT_NE(elf, nullptr);
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof(eh));
  // Program headers, section headers and the symbol/string tables.
  std::vector<std::pair<uint64_t, uint64_t>> regions = {
      {eh.e_phoff, uint64_t{eh.e_phnum} * eh.e_phentsize},
      {eh.e_shoff, uint64_t{eh.e_shnum} * eh.e_shentsize}};
  for (const char* name : {".symtab", ".strtab", ".shstrtab", ".note.gnu.build-id"}) {
    const ElfSection* s = elf->FindSection(name);
    ASSERT_NE(s, nullptr) << name;
    regions.push_back({s->offset, s->size});
  }
  std::mt19937_64 rng(42);
  TempFile file("flipped", {});
  for (int round = 0; round < 150; ++round) {
    std::vector<uint8_t> copy = bytes;
    const auto& [start, len] = regions[round % regions.size()];
    for (int i = 0; i < 8; ++i) {
      copy[start + rng() % len] = static_cast<uint8_t>(rng());
    }
    SCOPED_TRACE(round);
    file.Write(copy);
    ExpectOpenIsCleanOrFails(file);
  }
}

}  // namespace
}  // namespace cgotrace
