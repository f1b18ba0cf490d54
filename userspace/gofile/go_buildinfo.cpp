// GoBuildInfo: the .go.buildinfo blob written by cmd/link (see
// debug/buildinfo in the Go tree for the reference reader).
#include "gofile/go_buildinfo.h"

#include <elf.h>

#include <charconv>
#include <optional>
#include <string_view>

#include "elf/elf_read.h"
#include "elf/elf_relocs.h"

namespace cgotrace {

namespace {

constexpr std::string_view kMagic("\xff Go buildinf:", 14);
constexpr size_t kHeaderSize = 32;
constexpr size_t kAlign = 16;
constexpr uint8_t kFlagBigEndian = 1;
constexpr uint8_t kFlagInlineStrings = 2;  // Go 1.18+
// Go 1.18+ brackets modinfo with 16-byte sentinels (runtime/debug.modinfo).
constexpr size_t kSentinel = 16;

struct Blob {
  uint64_t vaddr = 0;
  std::span<const uint8_t> bytes;  // from the magic to the end of its section/segment
};

bool HasMagic(std::span<const uint8_t> bytes) {
  return bytes.size() >= kHeaderSize &&
         std::string_view(reinterpret_cast<const char*>(bytes.data()), kMagic.size()) == kMagic;
}

// Without section headers the linker's 16-byte alignment of the blob in
// writable data is the only anchor (as in debug/buildinfo). Read-only data
// is not searched: any binary that parses build info, cgotrace included,
// has the magic there as a constant.
std::optional<Blob> ScanSegments(const ElfFile& elf) {
  for (const ElfSegment& seg : elf.load_segments()) {
    if (!(seg.flags & PF_W)) {
      continue;
    }
    std::span<const uint8_t> data = elf.bytes().subspan(seg.offset, seg.filesz);
    uint64_t first = (kAlign - seg.vaddr % kAlign) % kAlign;
    for (uint64_t off = first; off + kHeaderSize <= data.size(); off += kAlign) {
      if (HasMagic(data.subspan(off))) {
        return Blob{seg.vaddr + off, data.subspan(off)};
      }
    }
  }
  return std::nullopt;
}

Result<std::optional<Blob>> FindBlob(const ElfFile& elf) {
  if (const ElfSection* s = elf.FindSection(".go.buildinfo")) {
    auto data = elf.SectionData(*s);
    if (!data.ok()) {
      return data.error();
    }
    return std::optional<Blob>(Blob{s->addr, *data});
  }
  // The Go linker always emits the section; only a stripped section header
  // table justifies searching.
  if (!elf.sections().empty()) {
    return std::optional<Blob>();
  }
  return ScanSegments(elf);
}

// A uvarint-length-prefixed string at *off (Go 1.18+ layout).
std::optional<std::string> ReadInlineString(std::span<const uint8_t> bytes, uint64_t* off) {
  uint64_t len = 0;
  for (unsigned shift = 0;; shift += 7) {
    if (*off >= bytes.size() || shift > 63) {
      return std::nullopt;
    }
    uint8_t b = bytes[(*off)++];
    len |= uint64_t{b & 0x7fu} << shift;
    if (b < 0x80) {
      break;
    }
  }
  if (len > bytes.size() - *off) {
    return std::nullopt;
  }
  std::string s(reinterpret_cast<const char*>(bytes.data() + *off), len);
  *off += len;
  return s;
}

// The Go string whose header (data pointer, length) is pointed to by the
// pointer stored at `where` (pre-1.18 layout).
std::optional<std::string> ReadStringViaPointer(const ElfFile& elf, const RelativeRelocs& relocs,
                                                uint64_t where) {
  auto header = relocs.ReadPointer(where);
  if (!header) {
    return std::nullopt;
  }
  auto data = relocs.ReadPointer(*header);
  auto len = relocs.ReadPointer(*header + 8);
  if (!data || !len) {
    return std::nullopt;
  }
  if (*len == 0) {
    return std::string();
  }
  auto bytes = elf.ReadVaddr(*data, *len);
  if (!bytes.ok()) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

std::string StripSentinels(const std::string& mod) {
  if (mod.size() >= 2 * kSentinel + 1 && mod[mod.size() - kSentinel - 1] == '\n') {
    return mod.substr(kSentinel, mod.size() - 2 * kSentinel);
  }
  return "";
}

// Go writes build-setting values with strconv.Quote when they contain
// spaces, quotes or control characters; undo the common escapes.
std::string Unquote(std::string_view v) {
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') {
    return std::string(v);
  }
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] != '\\' || i + 2 >= v.size()) {
      out.push_back(v[i]);
      continue;
    }
    char c = v[++i];
    out.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c);
  }
  return out;
}

void ParseModinfo(GoBuildInfo* info) {
  std::string_view rest = info->modinfo;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) {
      continue;
    }
    std::string_view kind = line.substr(0, tab);
    std::string_view value = line.substr(tab + 1);
    if (kind == "path") {
      info->main_path = std::string(value);
    } else if (kind == "mod") {
      info->module_path = std::string(value.substr(0, value.find('\t')));
    } else if (kind == "build") {
      size_t eq = value.find('=');
      if (eq != std::string_view::npos && eq > 0) {
        info->settings[Unquote(value.substr(0, eq))] = Unquote(value.substr(eq + 1));
      }
    }
  }
}

}  // namespace

Result<GoVersion> GoVersion::Parse(const std::string& text) {
  std::string_view s = text;
  s = s.substr(0, s.find(' '));  // drop " X:experiment" suffixes
  if (s.substr(0, 2) != "go") {
    return MakeError("unrecognized Go version \"{}\"", text);
  }
  GoVersion v;
  v.raw = text;
  int* fields[] = {&v.major, &v.minor, &v.patch};
  const char* p = s.data() + 2;
  const char* end = s.data() + s.size();
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') {
        break;
      }
      ++p;
    }
    auto [next, ec] = std::from_chars(p, end, *fields[i]);
    if (ec != std::errc() || *fields[i] < 0) {
      return MakeError("unrecognized Go version \"{}\"", text);
    }
    p = next;
  }
  // Whatever follows the numbers must be a pre-release tag (rc1, beta2).
  std::string_view tail(p, end - p);
  bool prerelease = tail.starts_with("rc") || tail.starts_with("beta");
  if ((!tail.empty() && !prerelease) || v.major < 1 || (v.major == 1 && v.minor == 0)) {
    return MakeError("unrecognized Go version \"{}\"", text);
  }
  if (prerelease) {
    v.patch = 0;
  }
  return v;
}

Result<GoBuildInfo> GoBuildInfo::Read(const ElfFile& elf) {
  auto blob = FindBlob(elf);
  if (!blob.ok()) {
    return blob.error();
  }
  if (!blob->has_value()) {
    return MakeError("{}: not a Go binary (no Go build info)", elf.path());
  }
  const Blob& b = **blob;
  if (!HasMagic(b.bytes)) {
    return MakeError("{}: .go.buildinfo is truncated or lacks the Go buildinfo magic", elf.path());
  }
  uint8_t ptr_size = b.bytes[14];
  uint8_t flags = b.bytes[15];
  std::optional<std::string> version;
  std::optional<std::string> mod;
  if (flags & kFlagInlineStrings) {
    uint64_t off = kHeaderSize;
    version = ReadInlineString(b.bytes, &off);
    mod = version ? ReadInlineString(b.bytes, &off) : std::nullopt;
  } else {
    if (ptr_size != 8 || (flags & kFlagBigEndian)) {
      return MakeError("{}: unsupported Go build info layout (pointer size {}, flags {:#x})",
                       elf.path(), ptr_size, flags);
    }
    RelativeRelocs relocs(elf);
    version = ReadStringViaPointer(elf, relocs, b.vaddr + 16);
    mod = version ? ReadStringViaPointer(elf, relocs, b.vaddr + 24) : std::nullopt;
  }
  if (!version || !mod) {
    return MakeError("{}: Go build info at {:#x} is truncated", elf.path(), b.vaddr);
  }
  auto parsed = GoVersion::Parse(*version);
  if (!parsed.ok()) {
    return MakeError("{}: {}", elf.path(), parsed.error().message);
  }
  GoBuildInfo info;
  info.version = std::move(*parsed);
  info.modinfo = StripSentinels(*mod);
  ParseModinfo(&info);
  return info;
}

}  // namespace cgotrace
