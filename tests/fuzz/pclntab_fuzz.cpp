// Fuzz target: the pclntab reader (every format go1.2 - go1.26, found by
// section, by moduledata or by scan), then the lookups the tracer makes.
// Seeds: real Go binaries, plain, stripped and PIE.
#include <cstddef>
#include <cstdint>

#include "elf/elf_file.h"
#include "fuzz_input.h"
#include "gofile/cgo_names.h"
#include "gofile/go_pclntab.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cgotrace::fuzz::MemFile file(data, size);
  auto elf = cgotrace::ElfFile::Open(file.path());
  if (!elf) {
    return 0;
  }
  auto pcln = cgotrace::GoPclntab::Read(**elf);
  if (!pcln) {
    return 0;
  }
  size_t i = 0;
  for (const cgotrace::GoFunc& f : pcln->funcs()) {
    // Every function's name goes through cgo naming; lookups on a sample.
    (void)cgotrace::ParseCgoSymbol(f.name);
    if (i++ % 64 == 0) {
      (void)pcln->FuncAt(f.entry);
      (void)pcln->FuncAt(f.end);
      (void)pcln->FindAll(f.name);
    }
  }
  (void)pcln->FindAll("runtime.cgocall");
  return 0;
}
