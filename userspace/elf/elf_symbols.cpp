// ElfFile: symbol tables, function lookup and build-id notes.
#include <elf.h>

#include <algorithm>
#include <tuple>

#include "elf/elf_file.h"
#include "elf/elf_read.h"
#include "util/hex.h"

namespace cgotrace {

namespace {

constexpr uint32_t kGoBuildIdNoteType = 4;  // cmd/link: ELF_NOTE_GOBUILDID_TAG

uint64_t AlignUp(uint64_t value, uint64_t align) { return (value + align - 1) / align * align; }

}  // namespace

Result<void> ElfFile::ParseSymbols() {
  for (size_t i = 0; i < sections_.size(); ++i) {
    const ElfSection& s = sections_[i];
    if (s.type == SHT_SYMTAB || s.type == SHT_DYNSYM) {
      CGT_TRY(ParseSymbolTable(s, s.type == SHT_DYNSYM));
    }
  }
  std::sort(symbols_.begin(), symbols_.end(), [](const ElfSymbol& a, const ElfSymbol& b) {
    return std::tie(a.value, a.dynamic, a.name) < std::tie(b.value, b.dynamic, b.name);
  });
  by_name_.resize(symbols_.size());
  for (size_t i = 0; i < by_name_.size(); ++i) {
    by_name_[i] = i;
  }
  std::stable_sort(by_name_.begin(), by_name_.end(), [this](size_t a, size_t b) {
    return std::tie(symbols_[a].name, symbols_[a].dynamic) <
           std::tie(symbols_[b].name, symbols_[b].dynamic);
  });
  IndexFunctions();
  return Ok();
}

Result<void> ElfFile::ParseSymbolTable(const ElfSection& table, bool dynamic) {
  auto syms = SectionData(table);
  if (!syms.ok()) {
    return MakeError("{}: truncated {}", path_, table.name);
  }
  uint32_t link = section_links_[&table - sections_.data()];
  if (link == 0 || link >= sections_.size()) {
    return MakeError("{}: {} has no string table", path_, table.name);
  }
  auto strtab = SectionData(sections_[link]);
  if (!strtab.ok()) {
    return MakeError("{}: string table of {} extends past end of file", path_, table.name);
  }
  size_t count = syms->size() / sizeof(Elf64_Sym);
  for (size_t i = 1; i < count; ++i) {  // entry 0 is the reserved null symbol
    auto sym = elf_read::Load<Elf64_Sym>(syms->data() + i * sizeof(Elf64_Sym));
    uint8_t type = ELF64_ST_TYPE(sym.st_info);
    if (sym.st_shndx == SHN_UNDEF || type == STT_SECTION || type == STT_FILE) {
      continue;
    }
    std::string_view name = elf_read::CString(*strtab, sym.st_name);
    if (name.empty()) {
      continue;
    }
    symbols_.push_back({std::string(name), sym.st_value, sym.st_size, type, dynamic});
  }
  return Ok();
}

void ElfFile::IndexFunctions() {
  std::vector<uint64_t> starts;
  for (const ElfSymbol& s : symbols_) {
    if (s.type == STT_FUNC) {
      starts.push_back(s.value);
    }
  }
  // symbols_ is sorted by value, so starts is too.
  for (size_t i = 0; i < symbols_.size(); ++i) {
    const ElfSymbol& s = symbols_[i];
    if (s.type != STT_FUNC) {
      continue;
    }
    uint64_t end = s.value + s.size < s.value ? UINT64_MAX : s.value + s.size;
    if (s.size == 0) {
      end = s.value;
      auto next = std::upper_bound(starts.begin(), starts.end(), s.value);
      for (const ElfSection& sec : sections_) {
        if ((sec.flags & SHF_ALLOC) && s.value >= sec.addr && s.value - sec.addr < sec.size) {
          end = sec.addr + sec.size;
          if (next != starts.end() && *next < end) {
            end = *next;
          }
          break;
        }
      }
    }
    funcs_.push_back({s.value, end, 0, i});
  }
  uint64_t max_end = 0;
  for (FuncRange& r : funcs_) {
    max_end = std::max(max_end, r.end);
    r.max_end = max_end;
  }
}

const ElfSymbol* ElfFile::FindSymbol(std::string_view name) const {
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                             [this](size_t i, std::string_view n) { return symbols_[i].name < n; });
  // by_name_ orders .symtab (dynamic=false) first among equal names.
  if (it == by_name_.end() || symbols_[*it].name != name) {
    return nullptr;
  }
  return &symbols_[*it];
}

const ElfSymbol* ElfFile::FunctionAt(uint64_t addr) const {
  auto it = std::upper_bound(funcs_.begin(), funcs_.end(), addr,
                             [](uint64_t a, const FuncRange& r) { return a < r.start; });
  const FuncRange* best = nullptr;
  auto better = [this](const FuncRange& a, const FuncRange& b) {
    const ElfSymbol& x = symbols_[a.symbol];
    const ElfSymbol& y = symbols_[b.symbol];
    if (x.dynamic != y.dynamic) {
      return !x.dynamic;
    }
    if ((x.size == 0) != (y.size == 0)) {
      return x.size != 0;  // a real size beats a guessed one (runtime.text)
    }
    return a.end < b.end;  // innermost of ranges with the same start
  };
  while (it != funcs_.begin()) {
    --it;
    if (it->max_end <= addr || (best != nullptr && it->start < best->start)) {
      break;
    }
    if (addr < it->end && (best == nullptr || better(*it, *best))) {
      best = &*it;
    }
  }
  return best ? &symbols_[best->symbol] : nullptr;
}

void ElfFile::ParseNotes(std::span<const uint8_t> notes, uint64_t align, std::string* go_id) {
  uint64_t off = 0;
  while (auto namesz = elf_read::U32(notes, off)) {
    auto descsz = elf_read::U32(notes, off + 4);
    auto type = elf_read::U32(notes, off + 8);
    if (!descsz || !type) {
      return;
    }
    uint64_t name_off = off + 12;
    uint64_t desc_off = AlignUp(name_off + *namesz, align);
    if (desc_off > notes.size() || *descsz > notes.size() - desc_off) {
      return;
    }
    std::string_view name = elf_read::CString(notes.subspan(0, desc_off), name_off);
    std::span<const uint8_t> desc = notes.subspan(desc_off, *descsz);
    if (name == "GNU" && *type == NT_GNU_BUILD_ID && build_id_.empty()) {
      build_id_ = HexBytes(desc);
    } else if (name == "Go" && *type == kGoBuildIdNoteType && go_id->empty()) {
      *go_id = std::string(elf_read::CString(desc, 0));
    }
    off = AlignUp(desc_off + *descsz, align);
  }
}

void ElfFile::ParseBuildId() {
  std::string go_id;
  for (const ElfSection& s : sections_) {
    if (s.type != SHT_NOTE) {
      continue;
    }
    if (auto data = SectionData(s); data.ok()) {
      ParseNotes(*data, 4, &go_id);
    }
  }
  // Section headers may be stripped; PT_NOTE still locates the notes.
  auto eh = elf_read::Load<Elf64_Ehdr>(data_);
  for (uint16_t i = 0; i < eh.e_phnum && build_id_.empty(); ++i) {
    auto ph = elf_read::Load<Elf64_Phdr>(data_ + eh.e_phoff + uint64_t{i} * eh.e_phentsize);
    if (ph.p_type == PT_NOTE && InFile(ph.p_offset, ph.p_filesz)) {
      ParseNotes({data_ + ph.p_offset, ph.p_filesz}, ph.p_align == 8 ? 8 : 4, &go_id);
    }
  }
  if (build_id_.empty()) {
    build_id_ = go_id;
  }
}

}  // namespace cgotrace
