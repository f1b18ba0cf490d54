// Names cmd/cgo gives to the code around a cgo call, turned back into the
// name written in Go source. Pure string functions: no state, thread-safe.
//
// For every C function, macro or errno-form call it uses, cgo generates a Go
// wrapper `<pkg>.<mangled>` (the caller of runtime.cgocall, named in
// pclntab) and a C trampoline `_cgo_<hash>_<mangled>` (runtime.cgocall's fn,
// named only in .symtab). <mangled> is one of (cmd/cgo gcc.go mangleName and
// rewriteCall, out.go writeDefsFunc):
//   _Cfunc_<name>   r := C.name(...)
//   _C2func_<name>  r, err := C.name(...)   (the errno form)
//   _Cmacro_<name>  C.NAME, a #define that expands to an expression
// plus cgo's allocator: C.CString, C.CBytes and C.malloc call the Go
// function `<pkg>._cgo_cmalloc`, whose trampoline is `_cgo_<hash>_Cfunc__Cmalloc`
// (`<pkg>._Cfunc__CMalloc` is the Go side of C.malloc). C-to-Go callbacks
// enter through `_cgoexp_<hash>_<Name>` for each //export'ed Go function.
#pragma once

#include <string>
#include <string_view>

namespace cgotrace {

enum class CgoSymbolKind {
  kNone,      // not a symbol cgo generates
  kCall,      // a Go wrapper or C trampoline of a cgo call
  kCallback,  // an //export'ed Go function's entry
};

struct CgoSymbol {
  CgoSymbolKind kind = CgoSymbolKind::kNone;
  std::string name;  // as written in Go source; "C.malloc" for cgo's allocator
};

// Parses one symbol (from .symtab or pclntab; an ".abi0" suffix is ignored):
//   "_cgo_7c2a0b1c3d4e_Cfunc_sqlite3_step"  -> {kCall, "sqlite3_step"}
//   "main._C2func_getaddrinfo"              -> {kCall, "getaddrinfo"}
//   "_cgo_7c2a0b1c3d4e_Cmacro_CGT_VALUE"    -> {kCall, "CGT_VALUE"}
//   "_cgo_7c2a0b1c3d4e_Cfunc__Cmalloc", "main._cgo_cmalloc" -> {kCall, "C.malloc"}
//   "main._cgoexp_7c2a0b1c3d4e_goCallback"  -> {kCallback, "goCallback"}
// Anything else, including C functions that merely contain "_Cfunc_"
// somewhere in their name, is {kNone, ""}.
CgoSymbol ParseCgoSymbol(std::string_view symbol);

// ParseCgoSymbol(symbol).name: "" when `symbol` is not cgo's.
std::string CgoNameFromSymbol(std::string_view symbol);

}  // namespace cgotrace
