// Decoding of the pclntab header and function table (layouts from
// runtime/symtab.go and cmd/link/internal/ld/pcln.go of each Go release).
#include <optional>

#include "elf/elf_read.h"
#include "gofile/go_pclntab_internal.h"

namespace cgotrace::pclntab {

namespace {

// Where one header format keeps the function table and the names.
struct Format {
  uint64_t nfunc = 0;
  uint64_t functab = 0;            // offset of functab in the table
  unsigned width = 8;              // of functab fields and _func.entry: uintptr, or uint32 (1.18+)
  uint64_t func_base = 0;          // functab funcoffs are relative to this offset
  std::span<const uint8_t> names;  // _func.nameoff indexes this
  bool text_relative = false;      // entries are offsets from the text start (1.18+)
  // 1.16+: offsets of the cutab, filetab and pctab (file and line tables).
  bool has_lines = false;
  uint64_t cutab = 0, filetab = 0, pctab = 0;
};

// The table bytes between two header offsets, or to the end when the
// offsets are not ordered as the linker writes them.
std::span<const uint8_t> Between(std::span<const uint8_t> bytes, uint64_t from, uint64_t to) {
  if (from >= bytes.size()) {
    return {};
  }
  if (to <= from || to > bytes.size()) {
    to = bytes.size();
  }
  return bytes.subspan(from, to - from);
}

std::optional<Format> ReadFormat(uint32_t magic, std::span<const uint8_t> b) {
  // Header fields after the 8-byte prefix, all uintptr.
  auto field = [&](unsigned index) { return elf_read::U64(b, 8 + 8 * uint64_t{index}); };
  Format f;
  auto nfunc = field(0);
  if (!nfunc) {
    return std::nullopt;
  }
  f.nfunc = *nfunc;
  if (magic == kMagic12) {
    f.functab = 16;
    f.names = b;
    return f;
  }
  // 1.18 inserted textStart after nfunc and nfiles.
  unsigned first = magic == kMagic116 ? 2 : 3;
  auto funcname = field(first);
  auto cu = field(first + 1);
  auto pcln = field(first + 4);
  if (!funcname || !cu || !pcln) {
    return std::nullopt;
  }
  f.functab = *pcln;
  f.func_base = *pcln;
  f.names = Between(b, *funcname, *cu);
  auto filetab = field(first + 2);
  auto pctab = field(first + 3);
  if (filetab && pctab && *cu <= *filetab && *filetab <= *pctab && *pctab <= *pcln &&
      *pcln <= b.size()) {
    f.has_lines = true;
    f.cutab = *cu;
    f.filetab = *filetab;
    f.pctab = *pctab;
  }
  if (magic != kMagic116) {
    f.width = 4;
    f.text_relative = true;
  }
  return f;
}

class Decoder {
 public:
  Decoder(const ElfFile& elf, const RelativeRelocs& relocs, const Table& table)
      : elf_(elf), relocs_(relocs), table_(table) {}

  Result<Decoded> Run();

 private:
  Error Fail(std::string_view what) const {
    return MakeError("{}: bad Go pclntab at {:#x}: {}", elf_.path(), table_.vaddr, what);
  }
  // A uintptr-or-uint32 word of the table; uintptrs may be relocated (PIE).
  std::optional<uint64_t> Word(uint64_t offset, unsigned width) const;
  Result<void> ReadFuncs(const Format& f, std::vector<uint64_t>* entries);
  Result<uint64_t> TextStart(const Format& f, const std::vector<uint64_t>& entries) const;
  void ReadLineRefs(const Format& f, uint64_t func);

  const ElfFile& elf_;
  const RelativeRelocs& relocs_;
  const Table& table_;
  Decoded out_;
};

std::optional<uint64_t> Decoder::Word(uint64_t offset, unsigned width) const {
  auto value = elf_read::Uint(table_.bytes, offset, width);
  if (value && width == 8) {
    if (auto addend = relocs_.Addend(table_.vaddr + offset)) {
      return addend;
    }
  }
  return value;
}

Result<Decoded> Decoder::Run() {
  if (!PlausibleHeader(table_.bytes)) {
    return Fail("unknown header");
  }
  out_.magic = *elf_read::U32(table_.bytes, 0);
  auto format = ReadFormat(out_.magic, table_.bytes);
  if (!format) {
    return Fail("truncated header");
  }
  if (format->has_lines) {
    LineData& lines = out_.lines.emplace();
    lines.bytes.assign(table_.bytes.begin() + static_cast<ptrdiff_t>(format->cutab),
                       table_.bytes.begin() + static_cast<ptrdiff_t>(format->functab));
    lines.filetab = format->filetab - format->cutab;
    lines.pctab = format->pctab - format->cutab;
    lines.quantum = table_.bytes[6];
  }
  std::vector<uint64_t> entries;
  CGT_TRY(ReadFuncs(*format, &entries));
  auto text = TextStart(*format, entries);
  if (!text.ok()) {
    return text.error();
  }
  out_.text_start = *text;
  uint64_t base = format->text_relative ? *text : 0;
  for (size_t i = 0; i < out_.funcs.size(); ++i) {
    out_.funcs[i].entry = base + entries[i];
    out_.funcs[i].end = base + entries[i + 1];
  }
  return std::move(out_);
}

// Fills names and the nfunc+1 raw entries (the last one is the end of
// text); checks every cross-reference between functab and _func.
Result<void> Decoder::ReadFuncs(const Format& f, std::vector<uint64_t>* entries) {
  uint64_t pair = 2 * uint64_t{f.width};
  if (f.nfunc == 0 || f.functab > table_.bytes.size() ||
      f.nfunc >= (table_.bytes.size() - f.functab) / pair) {
    return Fail(fmt::format("function table ({} functions) does not fit", f.nfunc));
  }
  entries->reserve(f.nfunc + 1);
  out_.funcs.reserve(f.nfunc);
  for (uint64_t i = 0; i <= f.nfunc; ++i) {
    auto entry = Word(f.functab + i * pair, f.width);
    if (!entry) {
      return Fail("truncated function table");
    }
    if (!entries->empty() && *entry <= entries->back()) {
      return Fail(fmt::format("function table entries not increasing at index {}", i));
    }
    entries->push_back(*entry);
    if (i == f.nfunc) {
      break;
    }
    auto funcoff = Word(f.functab + i * pair + f.width, f.width);
    if (!funcoff || *funcoff > table_.bytes.size()) {
      return Fail(fmt::format("function {} has a bad _func offset", i));
    }
    uint64_t func = f.func_base + *funcoff;
    auto func_entry = Word(func, f.width);
    auto nameoff = elf_read::U32(table_.bytes, func + f.width);
    if (!func_entry || !nameoff || *func_entry != *entry) {
      return Fail(fmt::format("function {} has a bad _func record", i));
    }
    auto name = elf_read::TerminatedString(
        f.names, static_cast<int32_t>(*nameoff) < 0 ? UINT64_MAX : uint64_t{*nameoff});
    if (!name || name->empty()) {
      return Fail(fmt::format("function {} has a bad name offset {:#x}", i, *nameoff));
    }
    out_.funcs.push_back({std::string(*name), 0, 0});
    ReadLineRefs(f, func);
  }
  return Ok();
}

// _func after entry and nameoff (1.16+): args, deferreturn, pcsp, pcfile,
// pcln, npcdata, cuOffset, each 4 bytes. A record cut short gets no tables.
void Decoder::ReadLineRefs(const Format& f, uint64_t func) {
  if (!out_.lines) {
    return;
  }
  const uint64_t base = func + f.width + 4;
  auto pcfile = elf_read::U32(table_.bytes, base + 12);
  auto pcln = elf_read::U32(table_.bytes, base + 16);
  auto cu = elf_read::U32(table_.bytes, base + 24);
  FuncLineRefs& refs = out_.lines->funcs.emplace_back();
  if (pcfile && pcln && cu) {
    refs = {*pcfile, *pcln, *cu};
  }
}

Result<uint64_t> Decoder::TextStart(const Format& f, const std::vector<uint64_t>& entries) const {
  // moduledata.text is what the runtime itself uses, and its minpc/maxpc
  // confirm the match. Go 1.18-1.25 also store it in the pclntab header
  // (relocated in PIE); 1.26 leaves that field 0.
  uint64_t first = entries.front();
  uint64_t last = entries.back();
  for (const Moduledata& md : FindModuledata(elf_, relocs_, table_.vaddr, out_.magic)) {
    uint64_t base = f.text_relative ? md.text : 0;
    if (md.minpc == base + first && md.maxpc == base + last) {
      return md.text;
    }
  }
  if (f.text_relative) {
    if (auto text = Word(24, 8); text && *text != 0) {
      return *text;
    }
  }
  if (const ElfSymbol* text = elf_.FindSymbol("runtime.text")) {
    return text->value;
  }
  if (!f.text_relative) {
    return first;
  }
  return Fail("text start not in the header and no runtime.firstmoduledata found");
}

}  // namespace

bool PlausibleHeader(std::span<const uint8_t> bytes) {
  auto magic = elf_read::U32(bytes, 0);
  if (!magic || bytes.size() < 8) {
    return false;
  }
  bool known =
      *magic == kMagic12 || *magic == kMagic116 || *magic == kMagic118 || *magic == kMagic120;
  uint8_t min_lc = bytes[6];
  return known && bytes[4] == 0 && bytes[5] == 0 && (min_lc == 1 || min_lc == 2 || min_lc == 4) &&
         bytes[7] == 8;
}

Result<Decoded> Decode(const ElfFile& elf, const RelativeRelocs& relocs, const Table& table) {
  return Decoder(elf, relocs, table).Run();
}

}  // namespace cgotrace::pclntab
