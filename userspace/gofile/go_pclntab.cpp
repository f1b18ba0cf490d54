// GoPclntab: locating the pclntab (section, symbols, moduledata or a scan)
// and looking functions up. Decoding lives in go_pclntab_decode.cpp.
#include "gofile/go_pclntab.h"

#include <elf.h>

#include <algorithm>
#include <optional>

#include "elf/elf_read.h"
#include "gofile/go_pclntab_internal.h"

namespace cgotrace {

namespace {

using pclntab::Decoded;
using pclntab::Moduledata;
using pclntab::Table;

// Section names the Go linker gives the table (internal-linking PIE uses
// the second one).
constexpr const char* kSectionNames[] = {".gopclntab", ".data.rel.ro.gopclntab"};

// Offsets in runtime.moduledata (runtime/symtab.go); 1.16 put pcHeader and
// four slices first, 1.2-1.15 three slices.
struct ModuledataLayout {
  uint64_t minpc, maxpc, text;
};
constexpr ModuledataLayout kModuledata116{0xa0, 0xa8, 0xb0};
constexpr ModuledataLayout kModuledata12{0x50, 0x58, 0x60};

// The file bytes from `vaddr` to the end of its PT_LOAD segment.
std::optional<Table> TableAt(const ElfFile& elf, uint64_t vaddr) {
  for (const ElfSegment& seg : elf.load_segments()) {
    if (vaddr >= seg.vaddr && vaddr - seg.vaddr < seg.filesz) {
      uint64_t rel = vaddr - seg.vaddr;
      return Table{vaddr, elf.bytes().subspan(seg.offset + rel, seg.filesz - rel)};
    }
  }
  return std::nullopt;
}

// Addresses the symbol table or moduledata give for the pclntab. moduledata's
// first word points at it in every layout (pcHeader, or pclntable's data).
std::vector<uint64_t> PointedCandidates(const ElfFile& elf, const RelativeRelocs& relocs) {
  std::vector<uint64_t> out;
  if (const ElfSymbol* sym = elf.FindSymbol("runtime.pclntab")) {
    out.push_back(sym->value);
  }
  std::vector<uint64_t> moduledata;
  if (const ElfSymbol* sym = elf.FindSymbol("runtime.firstmoduledata")) {
    moduledata.push_back(sym->value);
  }
  if (const ElfSection* s = elf.FindSection(".go.module")) {
    moduledata.push_back(s->addr);
  }
  for (uint64_t md : moduledata) {
    if (auto p = relocs.ReadPointer(md)) {
      out.push_back(*p);
    }
  }
  return out;
}

// Header-magic scan of read-only data first, then of everything else.
std::vector<uint64_t> ScannedCandidates(const ElfFile& elf) {
  std::vector<uint64_t> out;
  for (bool writable_or_exec : {false, true}) {
    for (const ElfSegment& seg : elf.load_segments()) {
      if (((seg.flags & (PF_W | PF_X)) != 0) != writable_or_exec) {
        continue;
      }
      std::span<const uint8_t> data = elf.bytes().subspan(seg.offset, seg.filesz);
      uint64_t first = (4 - seg.vaddr % 4) % 4;
      for (uint64_t off = first; off + 8 <= data.size(); off += 4) {
        if (pclntab::PlausibleHeader(data.subspan(off, 8))) {
          out.push_back(seg.vaddr + off);
        }
      }
    }
  }
  return out;
}

std::optional<Moduledata> ReadModuledata(const RelativeRelocs& relocs, uint64_t vaddr,
                                         const ModuledataLayout& layout) {
  auto minpc = relocs.ReadPointer(vaddr + layout.minpc);
  auto maxpc = relocs.ReadPointer(vaddr + layout.maxpc);
  auto text = relocs.ReadPointer(vaddr + layout.text);
  if (!minpc || !maxpc || !text) {
    return std::nullopt;
  }
  return Moduledata{vaddr, *minpc, *maxpc, *text};
}

}  // namespace

std::vector<Moduledata> pclntab::FindModuledata(const ElfFile& elf, const RelativeRelocs& relocs,
                                                uint64_t pclntab_vaddr, uint32_t magic) {
  std::vector<uint64_t> where = relocs.PointersTo(pclntab_vaddr);
  if (const ElfSymbol* sym = elf.FindSymbol("runtime.firstmoduledata")) {
    where.push_back(sym->value);
  }
  if (const ElfSection* s = elf.FindSection(".go.module")) {
    where.push_back(s->addr);
  }
  for (const ElfSegment& seg : elf.load_segments()) {
    if (!(seg.flags & PF_W)) {
      continue;
    }
    std::span<const uint8_t> data = elf.bytes().subspan(seg.offset, seg.filesz);
    for (uint64_t off = (8 - seg.vaddr % 8) % 8; off + 8 <= data.size(); off += 8) {
      if (elf_read::U64(data, off) == pclntab_vaddr) {
        where.push_back(seg.vaddr + off);
      }
    }
  }
  std::sort(where.begin(), where.end());
  where.erase(std::unique(where.begin(), where.end()), where.end());
  const ModuledataLayout& layout = magic == kMagic12 ? kModuledata12 : kModuledata116;
  std::vector<Moduledata> out;
  for (uint64_t md : where) {
    if (relocs.ReadPointer(md) != pclntab_vaddr) {
      continue;
    }
    if (auto m = ReadModuledata(relocs, md, layout)) {
      out.push_back(*m);
    }
  }
  return out;
}

Result<GoPclntab> GoPclntab::Read(const ElfFile& elf) {
  RelativeRelocs relocs(elf);
  std::optional<Table> section_table;
  for (const char* name : kSectionNames) {
    if (const ElfSection* s = elf.FindSection(name)) {
      auto data = elf.SectionData(*s);
      if (!data.ok()) {
        return data.error();
      }
      section_table = Table{s->addr, *data};
      break;
    }
  }
  std::vector<uint64_t> candidates;
  if (!section_table) {
    candidates = PointedCandidates(elf, relocs);
    std::vector<uint64_t> scanned = ScannedCandidates(elf);
    candidates.insert(candidates.end(), scanned.begin(), scanned.end());
  }
  std::optional<Error> last_error;
  uint64_t found_vaddr = 0;
  auto try_table = [&](const Table& table) -> std::optional<Decoded> {
    auto decoded = pclntab::Decode(elf, relocs, table);
    if (decoded.ok()) {
      found_vaddr = table.vaddr;
      return std::move(*decoded);
    }
    last_error = decoded.error();
    return std::nullopt;
  };
  std::optional<Decoded> found;
  if (section_table) {
    found = try_table(*section_table);
  }
  for (size_t i = 0; !found && i < candidates.size(); ++i) {
    std::optional<Table> table = TableAt(elf, candidates[i]);
    if (table && pclntab::PlausibleHeader(table->bytes)) {
      found = try_table(*table);
    }
  }
  if (!found) {
    if (last_error) {
      return *last_error;
    }
    return MakeError("{}: no Go pclntab found (not a Go binary?)", elf.path());
  }
  GoPclntab out;
  out.magic_ = found->magic;
  out.text_start_ = found->text_start;
  out.vaddr_ = found_vaddr;
  out.funcs_ = std::move(found->funcs);
  if (found->lines && found->lines->funcs.size() == out.funcs_.size()) {
    out.lines_ = std::make_shared<const pclntab::LineData>(std::move(*found->lines));
  }
  return out;
}

const GoFunc* GoPclntab::FuncAt(uint64_t pc) const {
  auto it = std::upper_bound(funcs_.begin(), funcs_.end(), pc,
                             [](uint64_t p, const GoFunc& f) { return p < f.entry; });
  if (it == funcs_.begin()) {
    return nullptr;
  }
  --it;
  return pc < it->end ? &*it : nullptr;
}

std::vector<const GoFunc*> GoPclntab::FindAll(std::string_view name) const {
  std::vector<const GoFunc*> out;
  for (const GoFunc& f : funcs_) {
    if (f.name == name) {
      out.push_back(&f);
    }
  }
  return out;
}

}  // namespace cgotrace
