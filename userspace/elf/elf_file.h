// ElfFile: a read-only view of one ELF executable on disk.
//
// Used by every binary-analysis step (Go buildinfo, pclntab, DWARF offsets,
// probe sites) and by the tracer to turn virtual addresses into the file
// offsets that uprobes attach to. Opening maps the whole file read-only and
// shared, so the bytes are the file's even where another tracer has uprobes
// in it (the kernel patches only private mappings); all spans handed out
// point into that mapping and stay valid for the ElfFile's lifetime.
// Corrupt or truncated files give an Error naming the path and what was
// wrong; no method reads outside the mapping.
//
// Thread safety: immutable after Open(); const methods may be called
// concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cgotrace/result.h"

namespace cgotrace {

enum class Arch { kX86_64, kArm64, kOther };

const char* ArchName(Arch arch);

struct ElfSection {
  std::string name;
  uint32_t type = 0;    // SHT_*
  uint64_t flags = 0;   // SHF_*
  uint64_t addr = 0;    // virtual address (0 if not allocated)
  uint64_t offset = 0;  // file offset
  uint64_t size = 0;
};

struct ElfSymbol {
  std::string name;
  uint64_t value = 0;  // virtual address
  uint64_t size = 0;
  uint8_t type = 0;      // STT_*
  bool dynamic = false;  // from .dynsym rather than .symtab
};

struct ElfSegment {  // one PT_LOAD program header
  uint64_t vaddr = 0;
  uint64_t offset = 0;
  uint64_t filesz = 0;
  uint64_t memsz = 0;
  uint32_t flags = 0;  // PF_*
};

class ElfFile {
 public:
  // Opens and validates `path` (ELF64 little-endian). Errors: missing file,
  // not ELF, truncated headers, section/segment tables outside the file.
  static Result<std::unique_ptr<ElfFile>> Open(const std::string& path);

  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const std::string& path() const { return path_; }
  Arch arch() const { return arch_; }
  // ET_DYN (PIE): runtime addresses = link-time addresses + load bias.
  bool is_pie() const { return is_pie_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

  const std::vector<ElfSection>& sections() const { return sections_; }
  const ElfSection* FindSection(std::string_view name) const;
  // Contents of a section; empty span for SHT_NOBITS. Error if out of file.
  Result<std::span<const uint8_t>> SectionData(const ElfSection& section) const;

  const std::vector<ElfSegment>& load_segments() const { return segments_; }

  // Symbols from .symtab and .dynsym (named, defined ones), sorted by value.
  const std::vector<ElfSymbol>& symbols() const { return symbols_; }
  // Exact-name lookup; prefers .symtab. nullptr if absent.
  const ElfSymbol* FindSymbol(std::string_view name) const;
  // The function symbol whose [value, value+size) covers addr, else nullptr.
  // A size-0 STT_FUNC symbol (hand-written assembly) is taken to cover up to
  // the next function symbol in its section. Of nested or aliased ranges the
  // innermost wins, .symtab over .dynsym.
  const ElfSymbol* FunctionAt(uint64_t addr) const;

  // Maps a link-time virtual address through PT_LOAD to a file offset.
  Result<uint64_t> VaddrToFileOffset(uint64_t vaddr) const;
  // `len` file-backed bytes starting at `vaddr`.
  Result<std::span<const uint8_t>> ReadVaddr(uint64_t vaddr, size_t len) const;

  // Hex NT_GNU_BUILD_ID if present, else the Go build id (the
  // .note.go.buildid note), else "".
  const std::string& build_id() const { return build_id_; }

 private:
  ElfFile() = default;
  Result<void> ParseHeaders();
  Result<void> ParseSections();
  Result<void> ParseSymbols();
  Result<void> ParseSymbolTable(const ElfSection& table, bool dynamic);
  void ParseBuildId();
  void ParseNotes(std::span<const uint8_t> notes, uint64_t align, std::string* go_id);
  void IndexFunctions();
  bool InFile(uint64_t offset, uint64_t len) const {
    return offset <= size_ && len <= size_ - offset;
  }

  // A function symbol's address range; size-0 symbols extend to the next
  // function symbol (or the end of their section), see FunctionAt().
  struct FuncRange {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t max_end = 0;  // max end over this and all earlier ranges
    size_t symbol = 0;     // index into symbols_
  };

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  Arch arch_ = Arch::kOther;
  bool is_pie_ = false;
  std::vector<ElfSection> sections_;
  std::vector<uint32_t> section_links_;  // sh_link of each section
  std::vector<ElfSegment> segments_;
  std::vector<ElfSymbol> symbols_;
  std::vector<size_t> by_name_;   // indices into symbols_, sorted by name
  std::vector<FuncRange> funcs_;  // STT_FUNC ranges, sorted by start
  std::string build_id_;
};

}  // namespace cgotrace
