// Fuzz target: Go build info (.go.buildinfo, or the scan used when section
// headers are gone) and version parsing. Seeds: real Go binaries.
#include <cstddef>
#include <cstdint>

#include "elf/elf_file.h"
#include "fuzz_input.h"
#include "gofile/go_buildinfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cgotrace::fuzz::MemFile file(data, size);
  auto elf = cgotrace::ElfFile::Open(file.path());
  if (!elf) {
    return 0;
  }
  auto info = cgotrace::GoBuildInfo::Read(**elf);
  if (info) {
    // What Analyze() does next with it.
    (void)info->version.AtLeast(1, 17);
    (void)cgotrace::GoVersion::Parse(info->version.raw);
  }
  return 0;
}
