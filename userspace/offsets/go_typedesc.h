// GoTypeDescriptors: the Go runtime's own type descriptors (abi.Type /
// structType), read from the executable file.
//
// Every Go binary, stripped or not, carries the descriptors of the types its
// code allocates: runtime.malg does new(g) and runtime.allocm new(m), so the
// struct descriptors of runtime.g and runtime.m, with every field's name and
// offset, are in the binary. cgotrace reads its runtime offsets from them when
// the binary has no DWARF (docs/offsets.md).
//
// Where they are: runtime.moduledata's [types, etypes) range holds every
// descriptor and the names they refer to (nameOff = offset from `types`).
// moduledata is found through the .go.module section (go1.26+), the
// runtime.firstmoduledata symbol, or the pointers to the pclntab it starts
// with (stripped, PIE, external link). Descriptors are found by scanning that
// range for a struct descriptor with the wanted name, not through typelinks:
// go1.27 removed moduledata.typelinks.
//
// Layouts handled explicitly (64-bit only: amd64, arm64):
//   moduledata  go1.17-1.19: types@0x118 etypes@0x120
//               go1.20-1.26: types@0x128 etypes@0x130 (covctrs added)
//               go1.27+:     types@0x128 typedesclen@0x130 etypes@0x138
//   descriptor  go1.17-1.18: runtime._type, structfield.offsetAnon (offset<<1)
//               go1.19-1.20: runtime._type, structfield.offset
//               go1.21+:     internal/abi.Type, abi.StructField.Offset
//   All share the 48-byte header (size, ptrdata, hash, tflag, align,
//   fieldAlign, kind, equal, gcdata, str, ptrToThis) and varint-length names
//   (go1.17+). A release newer than the newest known layout is tried with
//   every layout, newest first; whatever is found must pass the structural
//   checks of FindStruct or it is rejected.
//
// Pure value type; Open reads the file once. Thread safety: immutable after
// Open; const methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgotrace/result.h"
#include "elf/elf_file.h"
#include "elf/elf_relocs.h"
#include "gofile/go_buildinfo.h"
#include "gofile/go_pclntab.h"

namespace cgotrace {

struct GoStructField {
  std::string name;
  uint64_t offset = 0;
  uint64_t type_addr = 0;  // link-time address of the field's type descriptor
};

struct GoStructType {
  uint64_t addr = 0;  // link-time address of the descriptor
  std::string name;   // e.g. "runtime.g"
  uint64_t size = 0;
  std::vector<GoStructField> fields;

  const GoStructField* Field(std::string_view field_name) const;
};

class GoTypeDescriptors {
 public:
  // Locates moduledata and its type range for a binary of `version`: the
  // layout accepted is the first whose range holds a valid runtime.g
  // descriptor. Error: no moduledata, or no layout works (names the version).
  static Result<GoTypeDescriptors> Open(const ElfFile& elf, const GoVersion& version,
                                        const GoPclntab& pclntab);

  // The struct type descriptor named `name` ("runtime.g"). Every field is
  // checked: offsets non-decreasing, each field inside the struct. Error
  // names the type, the layout tried and the version.
  Result<GoStructType> FindStruct(std::string_view name) const;
  // The struct descriptor at `addr` (a field's type), named `name`.
  Result<GoStructType> StructAt(uint64_t addr, std::string_view name) const;

  // "internal/abi.Type (go1.21+)", and where the types range is.
  const std::string& layout() const { return layout_.name; }
  uint64_t types() const { return layout_.types; }
  uint64_t etypes() const { return layout_.etypes; }

 private:
  // One way to read the binary: a moduledata layout's [types, etypes) and a
  // descriptor layout.
  struct Layout {
    uint64_t types = 0;
    uint64_t etypes = 0;
    bool offset_anon = false;  // go1.17-1.18 structfield.offsetAnon
    std::string name;
  };
  Result<GoStructType> Read(const Layout& layout, uint64_t addr, std::string_view name) const;
  Result<GoStructType> Find(const Layout& layout, std::string_view name) const;

  const ElfFile* elf_ = nullptr;
  std::shared_ptr<const RelativeRelocs> relocs_;
  std::string version_;
  Layout layout_;
};

}  // namespace cgotrace
