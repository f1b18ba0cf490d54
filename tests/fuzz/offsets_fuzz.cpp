// Fuzz target: runtime.g / runtime.m offsets from the binary itself. Seeds:
// real Go binaries with DWARF (plain) and without (stripped).
//
// Hook for other offset sources: RuntimeOffsets::For() is the one entry
// point that picks the source (DWARF, then the version table). A parser of
// the runtime's type descriptors (every Go binary has them, stripped or not)
// belongs behind For() as well, so it is fuzzed here with no change; if it is
// given its own entry point, call it below beside FromDwarf().
#include <cstddef>
#include <cstdint>

#include "binary/go_buildinfo.h"
#include "binary/go_offsets.h"
#include "elf/elf_file.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cgotrace::fuzz::MemFile file(data, size);
  auto elf = cgotrace::ElfFile::Open(file.path());
  if (!elf) {
    return 0;
  }
  (void)cgotrace::RuntimeOffsets::FromDwarf(**elf);
  auto info = cgotrace::GoBuildInfo::Read(**elf);
  if (info) {
    (void)cgotrace::RuntimeOffsets::For(**elf, info->version);
  }
  return 0;
}
