// GoTypeDescriptors: moduledata's type range, struct descriptors by name.
#include "offsets/go_typedesc.h"

#include <algorithm>
#include <array>
#include <optional>

#include "elf/elf_read.h"
#include "gofile/go_pclntab_internal.h"

namespace cgotrace {
namespace {

// runtime.moduledata: where `types` and `etypes` are, per release range
// (runtime/symtab.go of each release).
struct ModuledataLayout {
  int first_minor;
  int last_minor;
  uint64_t types;
  uint64_t etypes;
  const char* what;
};
constexpr std::array<ModuledataLayout, 3> kModuledata = {{
    {17, 19, 0x118, 0x120, "go1.17-1.19"},
    {20, 26, 0x128, 0x130, "go1.20-1.26"},  // covctrs, ecovctrs before end
    {27, 27, 0x128, 0x138, "go1.27"},       // typedesclen after types; no typelinks
}};

// The type descriptor, per release range. The header bytes are the same in
// every layout; what differs is how a struct field's offset is stored.
struct DescriptorLayout {
  int first_minor;
  int last_minor;
  bool offset_anon;
  const char* what;
};
constexpr std::array<DescriptorLayout, 3> kDescriptors = {{
    {17, 18, true, "runtime._type, structfield.offsetAnon"},
    {19, 20, false, "runtime._type, structfield.offset"},
    {21, 27, false, "internal/abi.Type"},
}};
constexpr int kNewestMinor = 27;

// abi.Type on 64-bit targets.
constexpr uint64_t kTypeSize = 0;       // Size_ uintptr
constexpr uint64_t kTypeTFlag = 20;     // TFlag uint8
constexpr uint64_t kTypeKind = 23;      // Kind_ uint8
constexpr uint64_t kTypeStr = 40;       // Str NameOff (int32, from moduledata.types)
constexpr uint64_t kTypeHeader = 48;    // sizeof(abi.Type)
constexpr uint64_t kStructFields = 56;  // StructType.Fields (after PkgPath Name)
constexpr uint64_t kFieldSize = 24;     // StructField{Name, Typ, Offset}
constexpr uint8_t kKindMask = 0x1f;     // go1.17-1.25 keep flags in bits 5-7
constexpr uint8_t kKindStruct = 25;
constexpr uint8_t kTFlagExtraStar = 1 << 1;
// runtime.m, the biggest struct read, is about 1.5 KiB; a g or m descriptor
// with more fields or bytes than this is misread data.
constexpr uint64_t kMaxStructSize = 1 << 16;
constexpr uint64_t kMaxFields = 512;
constexpr uint64_t kMaxTypesRange = uint64_t{1} << 30;

std::string MinorRange(int first, int last) {
  return first == last ? fmt::format("go1.{}", first) : fmt::format("go1.{}-1.{}", first, last);
}

}  // namespace

const GoStructField* GoStructType::Field(std::string_view field_name) const {
  for (const GoStructField& f : fields) {
    if (f.name == field_name) {
      return &f;
    }
  }
  return nullptr;
}

Result<GoTypeDescriptors> GoTypeDescriptors::Open(const ElfFile& elf, const GoVersion& version,
                                                  const GoPclntab& pclntab) {
  const std::string& v = version.raw;
  if (elf.arch() != Arch::kX86_64 && elf.arch() != Arch::kArm64) {
    return MakeError("{}: type descriptors are read for 64-bit targets only, not {}", elf.path(),
                     ArchName(elf.arch()));
  }
  if (version.major != 1 || version.minor < kModuledata.front().first_minor) {
    return MakeError("{}: no type-descriptor layout for Go version {}", elf.path(), v);
  }
  GoTypeDescriptors out;
  out.elf_ = &elf;
  out.relocs_ = std::make_shared<const RelativeRelocs>(elf);
  out.version_ = v;

  std::vector<pclntab::Moduledata> mds =
      pclntab::FindModuledata(elf, *out.relocs_, pclntab.vaddr(), pclntab.magic());
  if (mds.empty()) {
    return MakeError("{}: {}: runtime.moduledata not found (type descriptors unreadable)",
                     elf.path(), v);
  }

  // The release's own layouts; a release newer than all of them tries every
  // layout, newest first.
  const bool unknown = version.minor > kNewestMinor;
  std::vector<const ModuledataLayout*> md_layouts;
  std::vector<const DescriptorLayout*> desc_layouts;
  for (auto it = kModuledata.rbegin(); it != kModuledata.rend(); ++it) {
    if (unknown || (version.minor >= it->first_minor && version.minor <= it->last_minor)) {
      md_layouts.push_back(&*it);
    }
  }
  for (auto it = kDescriptors.rbegin(); it != kDescriptors.rend(); ++it) {
    if (unknown || (version.minor >= it->first_minor && version.minor <= it->last_minor)) {
      desc_layouts.push_back(&*it);
    }
  }

  std::optional<Error> first_error;
  for (const ModuledataLayout* ml : md_layouts) {
    for (const pclntab::Moduledata& md : mds) {
      auto types = out.relocs_->ReadPointer(md.vaddr + ml->types);
      auto etypes = out.relocs_->ReadPointer(md.vaddr + ml->etypes);
      if (!types || !etypes || *types >= *etypes || *etypes - *types > kMaxTypesRange ||
          !elf.ReadVaddr(*types, *etypes - *types).ok()) {
        continue;
      }
      for (const DescriptorLayout* dl : desc_layouts) {
        Layout layout;
        layout.types = *types;
        layout.etypes = *etypes;
        layout.offset_anon = dl->offset_anon;
        layout.name = fmt::format("{} ({}), moduledata {}", dl->what,
                                  MinorRange(dl->first_minor, dl->last_minor), ml->what);
        auto g = out.Find(layout, "runtime.g");
        if (g.ok()) {
          out.layout_ = std::move(layout);
          return out;
        }
        if (!first_error) {
          first_error = g.error();
        }
      }
    }
  }
  if (first_error) {
    return *first_error;
  }
  return MakeError(
      "{}: {}: no type-descriptor range found in runtime.moduledata (unknown moduledata "
      "layout)",
      elf.path(), v);
}

Result<GoStructType> GoTypeDescriptors::FindStruct(std::string_view name) const {
  return Find(layout_, name);
}

Result<GoStructType> GoTypeDescriptors::StructAt(uint64_t addr, std::string_view name) const {
  return Read(layout_, addr, name);
}

// Scans [types, etypes) at pointer alignment (every descriptor is aligned to
// it) for a struct-kind descriptor whose name is `name`. Names live in the
// same range: Str is an offset from `types`.
Result<GoStructType> GoTypeDescriptors::Find(const Layout& layout, std::string_view name) const {
  auto range = elf_->ReadVaddr(layout.types, layout.etypes - layout.types);
  if (!range.ok()) {
    return range.error();
  }
  std::span<const uint8_t> bytes = *range;
  std::vector<uint64_t> hits;
  for (uint64_t off = 0; off + kTypeHeader <= bytes.size(); off += 8) {
    if ((bytes[off + kTypeKind] & kKindMask) != kKindStruct) {
      continue;
    }
    auto str = elf_read::U32(bytes, off + kTypeStr);
    if (!str || *str == 0 || *str >= bytes.size()) {
      continue;
    }
    // name: flags byte, uvarint length, bytes.
    uint64_t p = *str + 1;
    uint64_t len = 0;
    for (int shift = 0; p < bytes.size() && shift < 28; shift += 7) {
      uint8_t b = bytes[p++];
      len |= uint64_t{static_cast<uint8_t>(b & 0x7f)} << shift;
      if ((b & 0x80) == 0) {
        break;
      }
    }
    if (len > bytes.size() - p) {
      continue;
    }
    std::string_view text(reinterpret_cast<const char*>(bytes.data() + p), len);
    if ((bytes[off + kTypeTFlag] & kTFlagExtraStar) != 0 && text.starts_with('*')) {
      text.remove_prefix(1);
    }
    if (text == name) {
      hits.push_back(layout.types + off);
    }
  }
  if (hits.empty()) {
    return MakeError("{}: {}: no {} type descriptor found ({}; unknown type-descriptor format?)",
                     elf_->path(), version_, name, layout.name);
  }
  if (hits.size() > 1) {
    return MakeError("{}: {}: {} type descriptors named {} ({})", elf_->path(), version_,
                     hits.size(), name, layout.name);
  }
  return Read(layout, hits.front(), name);
}

Result<GoStructType> GoTypeDescriptors::Read(const Layout& layout, uint64_t addr,
                                             std::string_view name) const {
  auto fail = [&](std::string_view what) -> Error {
    return MakeError(
        "{}: {}: {} type descriptor at 0x{:x}: {} ({}; unknown type-descriptor "
        "format?)",
        elf_->path(), version_, name, addr, what, layout.name);
  };
  auto header = elf_->ReadVaddr(addr, kStructFields + 24);
  if (!header.ok()) {
    return fail("outside the file");
  }
  if (((*header)[kTypeKind] & kKindMask) != kKindStruct) {
    return fail("not a struct");
  }
  GoStructType out;
  out.addr = addr;
  out.name = std::string(name);
  out.size = *elf_read::U64(*header, kTypeSize);
  auto fields_ptr = relocs_->ReadPointer(addr + kStructFields);
  auto nfields = elf_read::U64(*header, kStructFields + 8);
  auto cap = elf_read::U64(*header, kStructFields + 16);
  if (!fields_ptr || !nfields || !cap || *nfields == 0 || *nfields > kMaxFields ||
      *cap < *nfields || out.size == 0 || out.size > kMaxStructSize) {
    return fail("implausible size or field slice");
  }
  uint64_t prev = 0;
  for (uint64_t i = 0; i < *nfields; ++i) {
    uint64_t at = *fields_ptr + i * kFieldSize;
    auto name_ptr = relocs_->ReadPointer(at);
    auto typ = relocs_->ReadPointer(at + 8);
    auto raw_offset = relocs_->ReadPointer(at + 16);
    if (!name_ptr || !typ || !raw_offset) {
      return fail(fmt::format("field {} outside the file", i));
    }
    auto name_head = elf_->ReadVaddr(*name_ptr, 1);
    if (!name_head.ok()) {
      return fail(fmt::format("field {}'s name outside the file", i));
    }
    uint64_t len = 0;
    uint64_t p = *name_ptr + 1;
    for (int shift = 0; shift < 28; shift += 7) {
      auto b = elf_->ReadVaddr(p++, 1);
      if (!b.ok()) {
        return fail(fmt::format("field {}'s name outside the file", i));
      }
      len |= uint64_t{static_cast<uint8_t>((*b)[0] & 0x7f)} << shift;
      if (((*b)[0] & 0x80) == 0) {
        break;
      }
    }
    auto text = elf_->ReadVaddr(p, len);
    if (!text.ok() || len == 0 || len > 256) {
      return fail(fmt::format("field {}'s name is unreadable", i));
    }
    GoStructField f;
    f.name.assign(reinterpret_cast<const char*>(text->data()), len);
    f.offset = layout.offset_anon ? *raw_offset >> 1 : *raw_offset;
    f.type_addr = *typ;
    // A field type's own size bounds where the field may end.
    auto ftype = elf_->ReadVaddr(f.type_addr, kTypeHeader);
    if (!ftype.ok()) {
      return fail(fmt::format("field {}'s type outside the file", f.name));
    }
    uint64_t fsize = *elf_read::U64(*ftype, kTypeSize);
    if (f.offset < prev || f.offset > out.size || fsize > out.size - f.offset ||
        (i == 0 && f.offset != 0)) {
      return fail(fmt::format("field {} at {} (size {}) does not fit a {}-byte struct", f.name,
                              f.offset, fsize, out.size));
    }
    prev = f.offset;
    out.fields.push_back(std::move(f));
  }
  return out;
}

}  // namespace cgotrace
