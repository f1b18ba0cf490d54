// Naming of cgo calls: every mangled form cmd/cgo generates, on strings and
// on the real fixture binaries (plain: C trampolines in .symtab; stripped:
// only the Go wrappers in pclntab).
#include "gofile/cgo_names.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "binary/go_binary.h"
#include "binary_fixture_util.h"

namespace cgotrace {
namespace {

struct NameCase {
  const char* symbol;
  CgoSymbolKind kind;
  const char* name;
};

TEST(CgoNames, EveryFormCgoGenerates) {
  const NameCase cases[] = {
      // C trampolines (runtime.cgocall's fn), by call kind.
      {"_cgo_7c2a0b1c3d4e_Cfunc_sqlite3_step", CgoSymbolKind::kCall, "sqlite3_step"},
      {"_cgo_2ac87069779a_C2func_getaddrinfo", CgoSymbolKind::kCall, "getaddrinfo"},
      {"_cgo_34e6e0a09cb0_Cmacro_CGT_MACRO_VALUE", CgoSymbolKind::kCall, "CGT_MACRO_VALUE"},
      {"_cgo_7c2a0b1c3d4e_Cfunc__Cmalloc", CgoSymbolKind::kCall, "C.malloc"},
      // Go wrappers (pclntab; .symtab adds .abi0), any package path.
      {"main._Cfunc_fast_add", CgoSymbolKind::kCall, "fast_add"},
      {"main._C2func_errno_call", CgoSymbolKind::kCall, "errno_call"},
      {"main._C2func_errno_call.abi0", CgoSymbolKind::kCall, "errno_call"},
      {"main._Cmacro_CGT_MACRO_VALUE", CgoSymbolKind::kCall, "CGT_MACRO_VALUE"},
      {"github.com/mattn/go-sqlite3._Cfunc_sqlite3_step", CgoSymbolKind::kCall, "sqlite3_step"},
      {"net._C2func_getaddrinfo", CgoSymbolKind::kCall, "getaddrinfo"},
      {"example.com/a.b/c._Cfunc_f_g", CgoSymbolKind::kCall, "f_g"},
      {"main._cgo_cmalloc", CgoSymbolKind::kCall, "C.malloc"},
      {"main._Cfunc__CMalloc", CgoSymbolKind::kCall, "C.malloc"},
      // Callbacks.
      {"main._cgoexp_7c2a0b1c3d4e_goCallback", CgoSymbolKind::kCallback, "goCallback"},
      {"_cgoexp_7c2a0b1c3d4e_go_Callback", CgoSymbolKind::kCallback, "go_Callback"},
      // Not cgo's: the runtime's own C, C code that merely contains a marker,
      // and truncated forms.
      {"_cgo_notify_runtime_init_done", CgoSymbolKind::kNone, ""},
      {"_cgo_topofstack", CgoSymbolKind::kNone, ""},
      {"x_cgo_init", CgoSymbolKind::kNone, ""},
      {"my_Cfunc_helper", CgoSymbolKind::kNone, ""},
      {"main.run_Cfunc_x", CgoSymbolKind::kNone, ""},
      {"_cgo_7c2a_Cfunc_", CgoSymbolKind::kNone, ""},
      {"main._C2func_", CgoSymbolKind::kNone, ""},
      {"_cgoexp_7c2a", CgoSymbolKind::kNone, ""},
      {"", CgoSymbolKind::kNone, ""},
  };
  for (const NameCase& c : cases) {
    SCOPED_TRACE(c.symbol);
    CgoSymbol s = ParseCgoSymbol(c.symbol);
    EXPECT_EQ(s.kind, c.kind);
    EXPECT_EQ(s.name, c.name);
    EXPECT_EQ(CgoNameFromSymbol(c.symbol), c.name);
  }
}

// The fixture's errno scenario calls C.errno_call in the two-result form and
// reads the macro C.CGT_MACRO_VALUE; CallName must give those names from the
// trampoline (.symtab) and from the Go caller alone (stripped).
class CgoNamesFixtureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CgoNamesFixtureTest, ErrnoAndMacroFormsAreNamedAsInSource) {
  auto bin = GoBinary::Analyze(test::FixturePath(GetParam()));
  ASSERT_TRUE(bin) << bin.error().message;
  const GoBinary& b = **bin;
  // Distinct unnamed fn per call: CallName caches by fn.
  uint64_t unnamed_fn = 1;
  const std::vector<std::pair<std::string, std::string>> wrappers = {
      {"main._C2func_errno_call", "errno_call"},
      {"main._Cmacro_CGT_MACRO_VALUE", "CGT_MACRO_VALUE"},
      {"main._Cfunc_fast_add", "fast_add"}};
  for (const auto& [wrapper, want] : wrappers) {
    SCOPED_TRACE(wrapper);
    auto funcs = b.pclntab().FindAll(wrapper);
    ASSERT_EQ(funcs.size(), 1u);
    const uint64_t caller_pc = funcs[0]->entry + 1;
    // The trampoline's address, as runtime.cgocall's fn; absent when stripped,
    // where an address with no symbol leaves only the caller to name it.
    uint64_t fn = unnamed_fn++;
    const uint64_t unnamed = fn;
    for (const ElfSymbol& s : b.elf().symbols()) {
      if (s.name.starts_with("_cgo_") && CgoNameFromSymbol(s.name) == want) {
        fn = s.value;
      }
    }
    EXPECT_EQ(fn != unnamed, b.has_symtab()) << "trampoline symbol presence";
    EXPECT_EQ(b.CallName(fn, caller_pc), want);
  }
}

INSTANTIATE_TEST_SUITE_P(Builds, CgoNamesFixtureTest,
                         ::testing::Values("cgocalls", "cgocalls-stripped", "cgocalls-pie"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace cgotrace
