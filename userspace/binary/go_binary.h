// GoBinary: everything cgotrace knows about one Go executable before it
// attaches: version, cgo use, runtime layout, the probe sites, and how to
// name the C functions its cgo calls reach.
//
// Analysis needs no privileges and never touches a running process. A
// GoBinary owns its ElfFile mapping; it is immutable after Analyze() except
// for the name cache, which is guarded internally, so const methods may be
// called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "binary/probe_sites.h"
#include "cgotrace/result.h"
#include "elf/elf_file.h"
#include "gofile/cgo_names.h"
#include "gofile/go_buildinfo.h"
#include "gofile/go_pclntab.h"
#include "offsets/go_offsets.h"

namespace cgotrace {

// One Go function cgotrace probes, with the sites inside it.
struct ProbedFunction {
  std::string name;    // "runtime.cgocall"
  uint64_t entry = 0;  // link-time address
  uint64_t size = 0;
  std::string found_by;  // ".symtab" or ".gopclntab"
  std::vector<ProbeSite> sites;
};

class GoBinary {
 public:
  // Errors (one line each, naming `path`): missing file, not ELF, not a Go
  // binary, Go binary built without cgo, unsupported architecture, unknown Go
  // version without DWARF, undecodable probe site.
  static Result<std::unique_ptr<GoBinary>> Analyze(const std::string& path);

  const ElfFile& elf() const { return *elf_; }
  const GoBuildInfo& buildinfo() const { return buildinfo_; }
  const GoPclntab& pclntab() const { return pclntab_; }
  const RuntimeOffsets& offsets() const { return offsets_; }
  const ProbedFunction& cgocall() const { return cgocall_; }
  const ProbedFunction& cgocallback() const { return cgocallback_; }
  // runtime.exitsyscall: probed only with --breakdown (its slow path).
  const ProbedFunction& exitsyscall() const { return exitsyscall_; }
  bool has_symtab() const { return has_symtab_; }
  // Short display name (basename of the path).
  const std::string& comm() const { return comm_; }

  // Name of the C function a cgo call reached. `fn` is runtime.cgocall's fn
  // argument and `caller_pc` its return address, both link-time addresses
  // (PIE bias removed). Uses the C trampoline's .symtab name when present,
  // else the Go caller's pclntab name (stripped binaries); "0x..." if both
  // fail. Cached.
  std::string CallName(uint64_t fn, uint64_t caller_pc) const;
  // Name of the exported Go function a callback ran (`fn` from
  // runtime.cgocallbackg), e.g. "goCallback".
  std::string CallbackName(uint64_t fn) const;

 private:
  GoBinary() = default;
  Result<void> FindProbedFunctions();

  std::unique_ptr<ElfFile> elf_;
  GoBuildInfo buildinfo_;
  GoPclntab pclntab_;
  RuntimeOffsets offsets_;
  ProbedFunction cgocall_;
  ProbedFunction cgocallback_;
  ProbedFunction exitsyscall_;
  bool has_symtab_ = false;
  std::string comm_;

  mutable std::mutex cache_mu_;
  mutable std::unordered_map<uint64_t, std::string> name_cache_;
};

}  // namespace cgotrace
