// RuntimeOffsets: the field list, the built-in version table, offsets from
// type descriptors, and For(), which picks and cross-checks the sources.
// DWARF reading is in go_offsets_dwarf.cpp.
#include "offsets/go_offsets.h"

#include <array>
#include <optional>
#include <string>

#include "offsets/go_typedesc.h"

namespace cgotrace {
namespace {

constexpr std::array<RuntimeField, 13> kFields = {{
    {"g.goid", "runtime.g", "goid", "", "", &RuntimeOffsets::g_goid, 17},
    {"g.stack.lo", "runtime.g", "stack", "lo", "runtime.stack", &RuntimeOffsets::g_stack_lo, 17},
    {"g.stack.hi", "runtime.g", "stack", "hi", "runtime.stack", &RuntimeOffsets::g_stack_hi, 17},
    {"g.m", "runtime.g", "m", "", "", &RuntimeOffsets::g_m, 17},
    {"g.sched", "runtime.g", "sched", "", "", &RuntimeOffsets::g_sched, 17},
    {"g.syscallsp", "runtime.g", "syscallsp", "", "", &RuntimeOffsets::g_syscallsp, 17},
    {"g.syscallpc", "runtime.g", "syscallpc", "", "", &RuntimeOffsets::g_syscallpc, 17},
    {"g.syscallbp", "runtime.g", "syscallbp", "", "", &RuntimeOffsets::g_syscallbp, 23},
    {"m.g0", "runtime.m", "g0", "", "", &RuntimeOffsets::m_g0, 17},
    {"m.procid", "runtime.m", "procid", "", "", &RuntimeOffsets::m_procid, 17},
    {"m.curg", "runtime.m", "curg", "", "", &RuntimeOffsets::m_curg, 17},
    {"m.incgo", "runtime.m", "incgo", "", "", &RuntimeOffsets::m_incgo, 17},
    {"m.ncgocall", "runtime.m", "ncgocall", "", "", &RuntimeOffsets::m_ncgocall, 17},
}};

// Offsets of every field, per range of Go releases. Every row is checked
// against the DWARF of real binaries built by that toolchain for amd64 and
// arm64 (docs/offsets.md, scripts/verify-offsets.sh) and against the type
// descriptors of the whole compatibility matrix. The layouts are identical
// on both arches: both are 64-bit with the same size and alignment rules
// for every field type.
struct Release {
  int minor;
  int patch;
};
struct TableRow {
  Release first;
  Release last;  // inclusive; patch kAnyPatch = every patch of that minor
  // In kFields order.
  std::array<uint32_t, kFields.size()> values;
};
constexpr uint32_t kNo = RuntimeOffsets::kAbsent;
constexpr int kAnyPatch = 1 << 20;

// go1.22 shrank m before ncgocall by 8. go1.23 inserted g.syscallbp before
// goid (+8). A patch release of go1.23 and of go1.24 added m.allpSnapshot (a
// slice, +24) before ncgocall: a layout change inside a minor release, which
// is why the table is keyed by patch. go1.25 dropped gobuf.ret, so
// runtime.gobuf shrank by 8 and with it g.sched (before goid, syscallsp,
// syscallpc, syscallbp) and m.morebuf (before procid, curg, incgo); go1.26
// added 8 bytes to m before incgo again.
constexpr int kAllpSnapshot123 = 12;  // go1.23.12 added m.allpSnapshot
constexpr int kAllpSnapshot124 = 6;   // go1.24.6 added m.allpSnapshot
// clang-format off
//                                          goid lo hi m  sched ssp  spc  sbp  g0 procid curg incgo ncgocall
constexpr std::array<TableRow, 8> kTable = {{
    {{17, 0}, {21, kAnyPatch},            {152, 0, 8, 48, 56, 112, 120, kNo, 0, 72, 192, 280, 304}},
    {{22, 0}, {22, kAnyPatch},            {152, 0, 8, 48, 56, 112, 120, kNo, 0, 72, 192, 280, 296}},
    {{23, 0}, {23, kAllpSnapshot123 - 1}, {160, 0, 8, 48, 56, 112, 120, 128, 0, 72, 192, 280, 296}},
    {{23, kAllpSnapshot123}, {23, kAnyPatch}, {160, 0, 8, 48, 56, 112, 120, 128, 0, 72, 192, 280, 320}},
    {{24, 0}, {24, kAllpSnapshot124 - 1}, {160, 0, 8, 48, 56, 112, 120, 128, 0, 72, 192, 280, 296}},
    {{24, kAllpSnapshot124}, {24, kAnyPatch}, {160, 0, 8, 48, 56, 112, 120, 128, 0, 72, 192, 280, 320}},
    {{25, 0}, {25, kAnyPatch},            {152, 0, 8, 48, 56, 104, 112, 120, 0, 64, 184, 272, 312}},
    {{26, 0}, {27, kAnyPatch},            {152, 0, 8, 48, 56, 104, 112, 120, 0, 64, 184, 280, 320}},
}};
// clang-format on
constexpr int kOldestMinor = 17;
constexpr int kNewestMinor = 27;

bool Before(Release a, Release b) {
  return a.minor < b.minor || (a.minor == b.minor && a.patch < b.patch);
}

std::string VersionText(const GoVersion& v) {
  if (!v.raw.empty()) {
    return v.raw;
  }
  return fmt::format("go{}.{}.{}", v.major, v.minor, v.patch);
}

std::string Value(uint32_t v) {
  return v == RuntimeOffsets::kAbsent ? "absent" : std::to_string(v);
}

// A field the release must have but the source lacks: the Error names both.
Result<void> CheckPresent(const RuntimeOffsets& o, const GoVersion& version,
                          const std::string& path) {
  for (const RuntimeField& f : kFields) {
    if (o.*f.member == RuntimeOffsets::kAbsent && version.minor >= f.since_minor) {
      return MakeError("{}: {}: {} has no field runtime.{} (needed since go1.{})", path,
                       VersionText(version), o.source, f.label, f.since_minor);
    }
  }
  return {};
}

}  // namespace

std::span<const RuntimeField> RuntimeFields() { return kFields; }

bool RuntimeOffsets::operator==(const RuntimeOffsets& o) const {
  for (const RuntimeField& f : kFields) {
    if (this->*f.member != o.*f.member) {
      return false;
    }
  }
  return true;
}

Result<RuntimeOffsets> RuntimeOffsets::FromTypeDescriptors(const ElfFile& elf,
                                                           const GoVersion& version,
                                                           const GoPclntab& pclntab) {
  const std::string text = VersionText(version);
  auto types = GoTypeDescriptors::Open(elf, version, pclntab);
  if (!types.ok()) {
    return types.error();
  }
  auto g = types->FindStruct("runtime.g");
  if (!g.ok()) {
    return g.error();
  }
  auto m = types->FindStruct("runtime.m");
  if (!m.ok()) {
    return m.error();
  }
  RuntimeOffsets out;
  out.source = "type descriptors";
  out.detail = types->layout();
  for (const RuntimeField& f : kFields) {
    const GoStructType& owner = f.type == "runtime.g" ? *g : *m;
    const GoStructField* field = owner.Field(f.field);
    if (field == nullptr) {
      // Absent from a release older than the field; required otherwise
      // (including every release newer than cgotrace knows).
      if (version.minor < f.since_minor) {
        out.*f.member = kAbsent;
        continue;
      }
      return MakeError("{}: {}: the {} type descriptor has no field '{}' (needed for {})",
                       elf.path(), text, f.type, f.field, f.label);
    }
    uint64_t offset = field->offset;
    if (!f.inner.empty()) {
      auto nested = types->StructAt(field->type_addr, f.inner_type);
      if (!nested.ok()) {
        return nested.error();
      }
      const GoStructField* inner = nested->Field(f.inner);
      if (inner == nullptr) {
        return MakeError("{}: {}: the {} type descriptor has no field '{}' (needed for {})",
                         elf.path(), text, f.inner_type, f.inner, f.label);
      }
      offset += inner->offset;
    }
    out.*f.member = static_cast<uint32_t>(offset);  // < kMaxStructSize, checked when read
  }
  return out;
}

Result<RuntimeOffsets> RuntimeOffsets::FromTable(const GoVersion& version) {
  const std::string text = VersionText(version);
  if (version.major != 1 || version.minor < kOldestMinor) {
    return MakeError("Go version {} is older than go1.{}, the oldest release cgotrace supports",
                     text, kOldestMinor);
  }
  const Release release{version.minor, version.patch};
  for (const TableRow& row : kTable) {
    if (Before(release, row.first) || Before(row.last, release)) {
      continue;
    }
    RuntimeOffsets out;
    for (size_t i = 0; i < kFields.size(); ++i) {
      out.*kFields[i].member = row.values[i];
    }
    out.source = fmt::format("table (go1.{})", version.minor);
    return out;
  }
  return MakeError("Go version {} is newer than cgotrace's offset table (known: go1.{}-go1.{})",
                   text, kOldestMinor, kNewestMinor);
}

Result<RuntimeOffsets> RuntimeOffsets::For(const ElfFile& elf, const GoVersion& version,
                                           const GoPclntab& pclntab) {
  // The table and the descriptor reader hold 64-bit layouts only.
  const bool wide = elf.arch() == Arch::kX86_64 || elf.arch() == Arch::kArm64;
  std::vector<Result<RuntimeOffsets>> sources;
  sources.push_back(FromDwarf(elf));
  if (wide) {
    sources.push_back(FromTypeDescriptors(elf, version, pclntab));
    sources.push_back(FromTable(version));
  }
  for (Result<RuntimeOffsets>& s : sources) {
    if (s.ok()) {
      if (Result<void> present = CheckPresent(*s, version, elf.path()); !present.ok()) {
        s = present.error();
      }
    }
  }

  std::optional<size_t> chosen;
  for (size_t i = 0; i < sources.size() && !chosen; ++i) {
    if (sources[i].ok()) {
      chosen = i;
    }
  }
  if (!chosen) {
    if (!wide) {
      return MakeError("{}; no offset table or type-descriptor reader for architecture {}",
                       sources[0].error().message, ArchName(elf.arch()));
    }
    // Both binary-derived sources failed and the table does not know the
    // version: the descriptor error names the field or format, the table
    // error the version.
    return MakeError(
        "{}; {}; and the binary has no usable DWARF ({}); rebuild without -w or "
        "upgrade cgotrace",
        sources[1].error().message, sources[2].error().message, sources[0].error().message);
  }

  RuntimeOffsets out = *sources[*chosen];
  for (size_t i = 0; i < sources.size(); ++i) {
    if (i == *chosen) {
      continue;
    }
    if (!sources[i].ok()) {
      out.unavailable.push_back(sources[i].error().message);
      continue;
    }
    const RuntimeOffsets& other = *sources[i];
    bool agree = true;
    for (const RuntimeField& f : kFields) {
      if (out.*f.member != other.*f.member) {
        agree = false;
        out.warnings.push_back(fmt::format("{}: runtime.{} is {} by {} but {} by {}; using {}",
                                           elf.path(), f.label, Value(out.*f.member), out.source,
                                           Value(other.*f.member), other.source, out.source));
      }
    }
    if (agree) {
      out.agreeing.push_back(other.source);
    }
  }
  return out;
}

}  // namespace cgotrace
