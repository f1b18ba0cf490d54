// RuntimeOffsets::FromDwarf: runtime.g / runtime.m member offsets from the
// binary's DWARF, read with libdw.
#include <dwarf.h>
#include <elfutils/libdw.h>

#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "offsets/dwarf_file.h"
#include "offsets/go_offsets.h"

namespace cgotrace {
namespace {

// DW_AT_data_member_location is a constant in Go's DWARF, but DWARF 2
// producers encode it as DW_OP_plus_uconst; accept both.
std::optional<uint64_t> MemberLocation(Dwarf_Die* member) {
  Dwarf_Attribute attr;
  if (dwarf_attr(member, DW_AT_data_member_location, &attr) == nullptr) {
    return std::nullopt;
  }
  Dwarf_Word value = 0;
  if (dwarf_whatform(&attr) != DW_FORM_block1 && dwarf_whatform(&attr) != DW_FORM_block &&
      dwarf_whatform(&attr) != DW_FORM_exprloc && dwarf_formudata(&attr, &value) == 0) {
    return value;
  }
  Dwarf_Op* ops = nullptr;
  size_t n = 0;
  if (dwarf_getlocation(&attr, &ops, &n) != 0 || n != 1) {
    return std::nullopt;
  }
  if (ops[0].atom != DW_OP_plus_uconst && ops[0].atom != DW_OP_constu) {
    return std::nullopt;
  }
  return ops[0].number;
}

struct Member {
  uint64_t offset = 0;
  Dwarf_Die die{};
};

Result<Member> FindMember(Dwarf_Die* structure, std::string_view type_name, std::string_view name) {
  Dwarf_Die child;
  if (dwarf_child(structure, &child) == 0) {
    do {
      if (dwarf_tag(&child) != DW_TAG_member) {
        continue;
      }
      const char* n = dwarf_diename(&child);
      if (n == nullptr || name != n) {
        continue;
      }
      std::optional<uint64_t> loc = MemberLocation(&child);
      if (!loc) {
        return MakeError("DWARF member {}.{} has no usable data_member_location", type_name, name);
      }
      return Member{*loc, child};
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  return MakeError("DWARF type {} has no member '{}'", type_name, name);
}

// Goes from a member to the structure type it holds, through typedefs.
Result<Dwarf_Die> MemberStruct(Member& member, std::string_view what) {
  Dwarf_Attribute attr;
  Dwarf_Die type;
  if (dwarf_attr(&member.die, DW_AT_type, &attr) == nullptr ||
      dwarf_formref_die(&attr, &type) == nullptr) {
    return MakeError("DWARF member {} has no type", what);
  }
  Dwarf_Die peeled;
  if (dwarf_peel_type(&type, &peeled) != 0 || dwarf_tag(&peeled) != DW_TAG_structure_type) {
    return MakeError("DWARF member {} is not a structure", what);
  }
  return peeled;
}

// The Go linker emits each runtime type once, as a top-level DIE of some
// compilation unit, so only top-level children are scanned.
struct RuntimeTypes {
  std::optional<Dwarf_Die> g;
  std::optional<Dwarf_Die> m;
};

RuntimeTypes FindRuntimeTypes(Dwarf* dwarf) {
  RuntimeTypes found;
  Dwarf_Off off = 0;
  Dwarf_Off next = 0;
  size_t header_size = 0;
  while (dwarf_nextcu(dwarf, off, &next, &header_size, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    Dwarf_Die child;
    if (dwarf_offdie(dwarf, off + header_size, &cu) != nullptr && dwarf_child(&cu, &child) == 0) {
      do {
        if (dwarf_tag(&child) != DW_TAG_structure_type) {
          continue;
        }
        const char* name = dwarf_diename(&child);
        if (name == nullptr) {
          continue;
        }
        // A declaration-only DIE has no members; keep looking for the definition.
        if (dwarf_hasattr(&child, DW_AT_declaration)) {
          continue;
        }
        if (!found.g && std::strcmp(name, "runtime.g") == 0) {
          found.g = child;
        }
        if (!found.m && std::strcmp(name, "runtime.m") == 0) {
          found.m = child;
        }
        if (found.g && found.m) {
          return found;
        }
      } while (dwarf_siblingof(&child, &child) == 0);
    }
    off = next;
  }
  return found;
}

}  // namespace

Result<RuntimeOffsets> RuntimeOffsets::FromDwarf(const ElfFile& elf) {
  const std::string& path = elf.path();
  if (elf.FindSection(".debug_info") == nullptr && elf.FindSection(".zdebug_info") == nullptr) {
    return MakeError("{}: no DWARF debug info (built with -ldflags=-w or stripped)", path);
  }
  auto dwarf = DwarfFile::Open(path);
  if (!dwarf) {
    return dwarf.error();
  }

  RuntimeTypes types = FindRuntimeTypes((*dwarf)->get());
  if (!types.g) {
    return MakeError("{}: DWARF has no runtime.g type", path);
  }
  if (!types.m) {
    return MakeError("{}: DWARF has no runtime.m type", path);
  }

  RuntimeOffsets out;
  out.source = "dwarf";
  for (const RuntimeField& f : RuntimeFields()) {
    Dwarf_Die& owner = f.type == "runtime.g" ? *types.g : *types.m;
    Result<Member> outer = FindMember(&owner, f.type, f.field);
    if (!outer.ok()) {
      // A field newer than this release: the DWARF says so as well as any
      // version number could (g.syscallbp before go1.23).
      if (f.since_minor > 17) {
        out.*f.member = kAbsent;
        continue;
      }
      return MakeError("{}: {}", path, outer.error().message);
    }
    uint64_t offset = outer->offset;
    if (!f.inner.empty()) {
      Result<Dwarf_Die> nested = MemberStruct(*outer, fmt::format("{}.{}", f.type, f.field));
      if (!nested.ok()) {
        return MakeError("{}: {}", path, nested.error().message);
      }
      Result<Member> inner = FindMember(&*nested, f.inner_type, f.inner);
      if (!inner.ok()) {
        return MakeError("{}: {}", path, inner.error().message);
      }
      offset += inner->offset;
    }
    // runtime.m is about 1.5 KiB; anything larger means misread DWARF.
    if (offset > 0xffff) {
      return MakeError("{}: DWARF offset of {} is implausible ({})", path, f.label, offset);
    }
    out.*f.member = static_cast<uint32_t>(offset);
  }
  return out;
}

}  // namespace cgotrace
