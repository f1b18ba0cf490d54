// Fuzz target: the ELF reader (userspace/elf) on arbitrary files. Seeds: real
// Go and C executables built with the fuzz build (tests/fuzz/CMakeLists.txt).
// Every accessor a later analysis step uses is exercised on what was read.
#include <cstddef>
#include <cstdint>

#include "elf/elf_file.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cgotrace::fuzz::MemFile file(data, size);
  auto elf = cgotrace::ElfFile::Open(file.path());
  if (!elf) {
    return 0;
  }
  const cgotrace::ElfFile& e = **elf;
  for (const cgotrace::ElfSection& s : e.sections()) {
    auto bytes = e.SectionData(s);
    (void)bytes;
    (void)e.FindSection(s.name);
  }
  for (const cgotrace::ElfSymbol& sym : e.symbols()) {
    (void)e.FindSymbol(sym.name);
    (void)e.FunctionAt(sym.value);
    if (auto code = e.ReadVaddr(sym.value, sym.size < 64 ? sym.size : 64)) {
      (void)code->size();
    }
  }
  for (const cgotrace::ElfSegment& seg : e.load_segments()) {
    (void)e.VaddrToFileOffset(seg.vaddr);
    (void)e.VaddrToFileOffset(seg.vaddr + seg.memsz);
    (void)e.ReadVaddr(seg.vaddr, 16);
  }
  (void)e.build_id();
  return 0;
}
