// RuntimeOffsets from DWARF (libdw) and from the built-in version table.
#include "binary/go_offsets.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace cgotrace {
namespace {

// Offsets of the runtime.g / runtime.m fields cgotrace reads, per range of Go
// minor versions. Every row is checked against the DWARF of real binaries built
// by that toolchain for amd64 and arm64 (see docs/offsets.md and
// scripts/verify-offsets.sh). The layouts are identical on both arches: both
// are 64-bit with the same size and alignment rules for every field type.
struct TableRow {
  int first_minor;
  int last_minor;
  uint32_t g_goid;
  uint32_t g_stack_lo;
  uint32_t g_stack_hi;
  uint32_t g_m;
  uint32_t m_procid;
  uint32_t m_curg;
};

// go1.23 inserted g.syscallbp before goid (+8). go1.25 dropped gobuf.ret, so
// runtime.gobuf shrank by 8 and with it g.sched (before goid) and m.morebuf
// (before procid and curg).
constexpr std::array<TableRow, 3> kTable = {{
    {17, 22, 152, 0, 8, 48, 72, 192},
    {23, 24, 160, 0, 8, 48, 72, 192},
    {25, 26, 152, 0, 8, 48, 64, 184},
}};
constexpr int kOldestMinor = 17;
constexpr int kNewestMinor = 26;

std::string VersionText(const GoVersion& v) {
  if (!v.raw.empty()) {
    return v.raw;
  }
  return fmt::format("go{}.{}.{}", v.major, v.minor, v.patch);
}

// Closes the libdw handle and its file descriptor together.
class DwarfHandle {
 public:
  DwarfHandle(int fd, Dwarf* dwarf) : fd_(fd), dwarf_(dwarf) {}
  ~DwarfHandle() {
    if (dwarf_ != nullptr) {
      dwarf_end(dwarf_);
    }
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  DwarfHandle(const DwarfHandle&) = delete;
  DwarfHandle& operator=(const DwarfHandle&) = delete;
  Dwarf* get() const { return dwarf_; }

 private:
  int fd_;
  Dwarf* dwarf_;
};

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

Result<uint32_t> Narrow(uint64_t v, std::string_view what) {
  // runtime.g is a few hundred bytes; anything larger means misread DWARF.
  if (v > 0xffff) {
    return MakeError("DWARF offset of {} is implausible ({})", what, v);
  }
  return static_cast<uint32_t>(v);
}

}  // namespace

Result<RuntimeOffsets> RuntimeOffsets::FromDwarf(const ElfFile& elf) {
  const std::string& path = elf.path();
  if (elf.FindSection(".debug_info") == nullptr && elf.FindSection(".zdebug_info") == nullptr) {
    return MakeError("{}: no DWARF debug info (built with -ldflags=-w or stripped)", path);
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError("{}: cannot open: {}", path, std::strerror(errno));
  }
  // dwarf_begin decompresses SHF_COMPRESSED and legacy .zdebug_* sections,
  // which the Go linker produces by default.
  DwarfHandle handle(fd, dwarf_begin(fd, DWARF_C_READ));
  if (handle.get() == nullptr) {
    return MakeError("{}: cannot read DWARF: {}", path, dwarf_errmsg(dwarf_errno()));
  }

  RuntimeTypes types = FindRuntimeTypes(handle.get());
  if (!types.g) {
    return MakeError("{}: DWARF has no runtime.g type", path);
  }
  if (!types.m) {
    return MakeError("{}: DWARF has no runtime.m type", path);
  }

  auto member = [&](Dwarf_Die& s, std::string_view type_name,
                    std::string_view name) -> Result<Member> {
    Result<Member> r = FindMember(&s, type_name, name);
    if (!r.ok()) {
      return MakeError("{}: {}", path, r.error().message);
    }
    return r;
  };

  Result<Member> goid = member(*types.g, "runtime.g", "goid");
  if (!goid.ok()) {
    return goid.error();
  }
  Result<Member> stack = member(*types.g, "runtime.g", "stack");
  if (!stack.ok()) {
    return stack.error();
  }
  Result<Member> g_m = member(*types.g, "runtime.g", "m");
  if (!g_m.ok()) {
    return g_m.error();
  }
  Result<Member> procid = member(*types.m, "runtime.m", "procid");
  if (!procid.ok()) {
    return procid.error();
  }
  Result<Member> curg = member(*types.m, "runtime.m", "curg");
  if (!curg.ok()) {
    return curg.error();
  }

  Result<Dwarf_Die> stack_type = MemberStruct(*stack, "runtime.g.stack");
  if (!stack_type.ok()) {
    return MakeError("{}: {}", path, stack_type.error().message);
  }
  Result<Member> lo = member(*stack_type, "runtime.stack", "lo");
  if (!lo.ok()) {
    return lo.error();
  }
  Result<Member> hi = member(*stack_type, "runtime.stack", "hi");
  if (!hi.ok()) {
    return hi.error();
  }

  RuntimeOffsets out;
  out.source = "dwarf";
  const std::array<std::tuple<uint32_t*, uint64_t, std::string_view>, 6> fields = {{
      {&out.g_goid, goid->offset, "runtime.g.goid"},
      {&out.g_stack_lo, stack->offset + lo->offset, "runtime.g.stack.lo"},
      {&out.g_stack_hi, stack->offset + hi->offset, "runtime.g.stack.hi"},
      {&out.g_m, g_m->offset, "runtime.g.m"},
      {&out.m_procid, procid->offset, "runtime.m.procid"},
      {&out.m_curg, curg->offset, "runtime.m.curg"},
  }};
  for (const auto& [dst, value, what] : fields) {
    Result<uint32_t> v = Narrow(value, what);
    if (!v.ok()) {
      return MakeError("{}: {}", path, v.error().message);
    }
    *dst = *v;
  }
  return out;
}

Result<RuntimeOffsets> RuntimeOffsets::FromTable(const GoVersion& version) {
  const std::string text = VersionText(version);
  if (version.major != 1 || version.minor < kOldestMinor) {
    return MakeError("Go version {} is older than go1.{}, the oldest release cgotrace supports",
                     text, kOldestMinor);
  }
  for (const TableRow& row : kTable) {
    if (version.minor < row.first_minor || version.minor > row.last_minor) {
      continue;
    }
    RuntimeOffsets out;
    out.g_goid = row.g_goid;
    out.g_stack_lo = row.g_stack_lo;
    out.g_stack_hi = row.g_stack_hi;
    out.g_m = row.g_m;
    out.m_procid = row.m_procid;
    out.m_curg = row.m_curg;
    out.source = fmt::format("table (go1.{})", version.minor);
    return out;
  }
  return MakeError("Go version {} is newer than cgotrace's offset table (known: go1.{}-go1.{})",
                   text, kOldestMinor, kNewestMinor);
}

Result<RuntimeOffsets> RuntimeOffsets::For(const ElfFile& elf, const GoVersion& version) {
  Result<RuntimeOffsets> dwarf = FromDwarf(elf);
  if (dwarf.ok()) {
    return dwarf;
  }
  // The table holds 64-bit layouts only; a 32-bit runtime.g differs.
  if (elf.arch() != Arch::kX86_64 && elf.arch() != Arch::kArm64) {
    return MakeError("{}; no offset table for architecture {}", dwarf.error().message,
                     ArchName(elf.arch()));
  }
  Result<RuntimeOffsets> table = FromTable(version);
  if (table.ok()) {
    return table;
  }
  return MakeError(
      "{} and the binary has no usable DWARF ({}); rebuild without -w or upgrade "
      "cgotrace",
      table.error().message, dwarf.error().message);
}

}  // namespace cgotrace
