// GoBuildInfo: what the Go linker records about how a binary was built.
//
// Read from the .go.buildinfo section (or, when section headers are absent,
// by scanning writable PT_LOAD data for the "\xff Go buildinf:" magic). Both
// the Go 1.18+ inline-string format and the older pointer format are
// understood. Pure value type; parsing has no side effects.
#pragma once

#include <map>
#include <string>

#include "cgotrace/result.h"
#include "elf/elf_file.h"

namespace cgotrace {

struct GoVersion {
  int major = 0;    // 1
  int minor = 0;    // 26
  int patch = 0;    // 8 (0 for "go1.21rc2"-like pre-releases)
  std::string raw;  // "go1.26.8", exactly as recorded

  // Parses "go1.N", "go1.N.M", "go1.NrcK", "go1.N.M X:exp" ...; Error if not.
  static Result<GoVersion> Parse(const std::string& text);
  bool AtLeast(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};

struct GoBuildInfo {
  GoVersion version;
  std::string main_path;    // module path of package main ("" if unknown)
  std::string module_path;  // main module
  // -ldflags, CGO_ENABLED, GOARCH, GOAMD64, -buildmode, -trimpath ... from
  // the "build" lines of modinfo, keyed by name ("CGO_ENABLED", "-ldflags").
  std::map<std::string, std::string> settings;
  std::string modinfo;  // raw modinfo text

  // Error "<path>: not a Go binary (no Go build info)" if absent; a clear
  // error naming the problem if truncated or malformed.
  static Result<GoBuildInfo> Read(const ElfFile& elf);
};

}  // namespace cgotrace
