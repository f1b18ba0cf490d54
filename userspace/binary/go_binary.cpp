#include "binary/go_binary.h"

#include <elf.h>

#include <algorithm>

#include "util/hex.h"

namespace cgotrace {
namespace {

std::string Basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Whether the binary links runtime/cgo: the only reliable sign across Go
// versions (CGO_ENABLED is recorded in buildinfo only since go1.18, and
// runtime.cgocall exists in every Go binary).
bool UsesCgo(const GoPclntab& pclntab, const GoBuildInfo& info) {
  auto it = info.settings.find("CGO_ENABLED");
  if (it != info.settings.end() && it->second == "0") {
    return false;
  }
  for (const GoFunc& f : pclntab.funcs()) {
    if (f.name.starts_with("runtime/cgo.") || ParseCgoSymbol(f.name).kind == CgoSymbolKind::kCall) {
      return true;
    }
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<GoBinary>> GoBinary::Analyze(const std::string& path) {
  std::unique_ptr<GoBinary> bin(new GoBinary());
  auto elf = ElfFile::Open(path);
  if (!elf) {
    return elf.error();
  }
  bin->elf_ = std::move(*elf);
  bin->comm_ = Basename(path);
  if (bin->elf_->arch() == Arch::kOther) {
    return MakeError("{}: unsupported architecture (cgotrace handles x86-64 and arm64)", path);
  }
  auto info = GoBuildInfo::Read(*bin->elf_);
  if (!info) {
    return info.error();
  }
  bin->buildinfo_ = std::move(*info);
  if (!bin->buildinfo_.version.AtLeast(1, 17)) {
    return MakeError(
        "{}: built with {}; cgotrace needs go1.17 or newer (the register ABI keeps g in a "
        "register)",
        path, bin->buildinfo_.version.raw);
  }
  auto pcln = GoPclntab::Read(*bin->elf_);
  if (!pcln) {
    return pcln.error();
  }
  bin->pclntab_ = std::move(*pcln);
  if (!UsesCgo(bin->pclntab_, bin->buildinfo_)) {
    return MakeError("{}: Go binary built without cgo (no C calls to trace)", path);
  }
  auto offsets = RuntimeOffsets::For(*bin->elf_, bin->buildinfo_.version, bin->pclntab_);
  if (!offsets) {
    return offsets.error();
  }
  for (const std::string& warning : offsets->warnings) {
    fmt::print(stderr, "cgotrace: warning: {}\n", warning);
  }
  bin->offsets_ = std::move(*offsets);
  bin->has_symtab_ = bin->elf_->FindSection(".symtab") != nullptr;
  CGT_TRY(bin->FindProbedFunctions());
  return bin;
}

// Locates `name` and decodes its probe sites. Some runtime functions appear
// twice in pclntab under one name: the ABIInternal body and an ABI0 wrapper
// that loads g from TLS and calls the body. Only the body has g in its
// register at entry; .symtab tells them apart by the ".abi0" suffix, and
// without .symtab the wrapper is the smaller of the two.
static Result<ProbedFunction> FindProbed(const ElfFile& elf, const GoPclntab& pcln,
                                         const std::string& name) {
  ProbedFunction out;
  out.name = name;
  if (const ElfSymbol* sym = elf.FindSymbol(name); sym != nullptr && sym->size > 0) {
    out.entry = sym->value;
    out.size = sym->size;
    out.found_by = ".symtab";
  } else {
    auto all = pcln.FindAll(name);
    if (all.empty()) {
      return MakeError("{}: no function {} in .symtab or pclntab", elf.path(), name);
    }
    const GoFunc* best = *std::max_element(all.begin(), all.end(), [](auto* a, auto* b) {
      return a->end - a->entry < b->end - b->entry;
    });
    out.entry = best->entry;
    out.size = best->end - best->entry;
    out.found_by = "pclntab";
  }
  auto code = elf.ReadVaddr(out.entry, out.size);
  if (!code) {
    return MakeError("{}: cannot read {} at 0x{:x}: {}", elf.path(), name, out.entry,
                     code.error().message);
  }
  auto sites = FindProbeSites(elf.arch(), out.entry, *code);
  if (!sites) {
    return MakeError("{}: {}: {}", elf.path(), name, sites.error().message);
  }
  out.sites = std::move(*sites);
  return out;
}

Result<void> GoBinary::FindProbedFunctions() {
  auto call = FindProbed(*elf_, pclntab_, "runtime.cgocall");
  if (!call) {
    return call.error();
  }
  cgocall_ = std::move(*call);
  auto cb = FindProbed(*elf_, pclntab_, "runtime.cgocallbackg");
  if (!cb) {
    return cb.error();
  }
  cgocallback_ = std::move(*cb);
  auto exit = FindProbed(*elf_, pclntab_, "runtime.exitsyscall");
  if (!exit) {
    return exit.error();
  }
  exitsyscall_ = std::move(*exit);
  return Ok();
}

std::string GoBinary::CallName(uint64_t fn, uint64_t caller_pc) const {
  // fn and caller_pc come in pairs; caching by fn alone is enough because a
  // trampoline belongs to exactly one Go wrapper (cgo_names.h).
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = name_cache_.find(fn);
  if (it != name_cache_.end()) {
    return it->second;
  }
  std::string name;
  if (const ElfSymbol* sym = elf_->FunctionAt(fn); sym != nullptr) {
    // Runtime-internal calls (e.g. _cgo_notify_runtime_init_done) reach C
    // functions that are not cgo trampolines: their own name is best.
    name = CgoNameFromSymbol(sym->name);
    if (name.empty()) {
      name = sym->name;
    }
  }
  if (name.empty() && caller_pc != 0) {
    if (const GoFunc* f = pclntab_.FuncAt(caller_pc); f != nullptr) {
      name = CgoNameFromSymbol(f->name);
      if (name.empty()) {
        name = f->name;  // a runtime-internal caller of cgocall
      }
    }
  }
  if (name.empty()) {
    name = HexAddr(fn);
  }
  name_cache_.emplace(fn, name);
  return name;
}

std::string GoBinary::CallbackName(uint64_t fn) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  // Callback fns are Go functions, trampolines are C: the address spaces do
  // not overlap, so one cache serves both.
  auto it = name_cache_.find(fn);
  if (it != name_cache_.end()) {
    return it->second;
  }
  std::string name;
  if (const GoFunc* f = pclntab_.FuncAt(fn); f != nullptr) {
    name = CgoNameFromSymbol(f->name);
    if (name.empty()) {
      name = f->name;
    }
  } else {
    name = HexAddr(fn);
  }
  name_cache_.emplace(fn, name);
  return name;
}

}  // namespace cgotrace
