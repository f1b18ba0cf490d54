#include "gofile/cgo_names.h"

#include <array>
#include <cctype>

namespace cgotrace {
namespace {

// Every mangled form of a call cmd/cgo emits (see cgo_names.h).
constexpr std::array<std::string_view, 3> kCallKinds = {"_Cfunc_", "_C2func_", "_Cmacro_"};
constexpr std::string_view kTrampolinePrefix = "_cgo_";
constexpr std::string_view kExportPrefix = "_cgoexp_";
constexpr std::string_view kAbi0Suffix = ".abi0";
constexpr std::string_view kMallocName = "C.malloc";

// The part after the package path of a Go symbol ("main._Cfunc_f" ->
// "_Cfunc_f", "github.com/x/go-y._Cfunc_f" -> "_Cfunc_f"); C symbols have no
// package and are returned whole.
std::string_view LocalName(std::string_view symbol) {
  size_t slash = symbol.rfind('/');
  size_t from = slash == std::string_view::npos ? 0 : slash + 1;
  size_t dot = symbol.find('.', from);
  return dot == std::string_view::npos ? symbol : symbol.substr(dot + 1);
}

// Skips cgo's per-package hash ("7c2a0b1c3d4e"): one or more hex digits,
// which an underscore must follow (it is left in place). Returns false when
// `s` does not start that way.
bool SkipHash(std::string_view* s) {
  size_t n = 0;
  while (n < s->size() && std::isxdigit(static_cast<unsigned char>((*s)[n])) != 0) {
    ++n;
  }
  if (n == 0 || n >= s->size() || (*s)[n] != '_') {
    return false;
  }
  s->remove_prefix(n);
  return true;
}

// "_Cfunc_f" -> "f" for every call kind; "" when `s` is none of them.
std::string_view StripCallKind(std::string_view s) {
  for (std::string_view kind : kCallKinds) {
    if (s.starts_with(kind) && s.size() > kind.size()) {
      return s.substr(kind.size());
    }
  }
  return {};
}

CgoSymbol Call(std::string_view name) { return {CgoSymbolKind::kCall, std::string(name)}; }

}  // namespace

CgoSymbol ParseCgoSymbol(std::string_view symbol) {
  if (symbol.ends_with(kAbi0Suffix)) {
    symbol.remove_suffix(kAbi0Suffix.size());
  }
  std::string_view local = LocalName(symbol);
  if (local.starts_with(kExportPrefix)) {
    // _cgoexp_<hash>_<Name>
    std::string_view rest = local.substr(kExportPrefix.size());
    if (SkipHash(&rest) && rest.size() > 1) {
      return {CgoSymbolKind::kCallback, std::string(rest.substr(1))};
    }
    return {};
  }
  if (local == "_cgo_cmalloc") {
    return Call(kMallocName);
  }
  if (local.starts_with(kTrampolinePrefix)) {
    // C trampoline: _cgo_<hash><kind><name>, every kind starting with "_";
    // the Go side spells the allocator _CMalloc, the C side _Cmalloc.
    std::string_view rest = local.substr(kTrampolinePrefix.size());
    std::string_view name = SkipHash(&rest) ? StripCallKind(rest) : std::string_view{};
    if (name.empty()) {
      return {};
    }
    return Call(name == "_Cmalloc" ? kMallocName : name);
  }
  std::string_view name = StripCallKind(local);
  if (name.empty()) {
    return {};
  }
  return Call(name == "_CMalloc" ? kMallocName : name);
}

std::string CgoNameFromSymbol(std::string_view symbol) { return ParseCgoSymbol(symbol).name; }

}  // namespace cgotrace
