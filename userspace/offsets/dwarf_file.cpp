#include "offsets/dwarf_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cgotrace {

Result<std::unique_ptr<DwarfFile>> DwarfFile::Open(const std::string& path) {
  std::unique_ptr<DwarfFile> f(new DwarfFile());
  f->fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f->fd_ < 0) {
    return MakeError("{}: cannot open: {}", path, std::strerror(errno));
  }
  elf_version(EV_CURRENT);
  // ELF_C_READ: sections are read with pread when asked for (ELF_C_READ_MMAP,
  // which dwarf_begin() uses, maps the file privately).
  f->elf_ = elf_begin(f->fd_, ELF_C_READ, nullptr);
  if (f->elf_ == nullptr) {
    return MakeError("{}: cannot read ELF: {}", path, elf_errmsg(-1));
  }
  // libdw decompresses SHF_COMPRESSED and legacy .zdebug_* sections, which
  // the Go linker produces by default.
  f->dwarf_ = dwarf_begin_elf(f->elf_, DWARF_C_READ, nullptr);
  if (f->dwarf_ == nullptr) {
    return MakeError("{}: cannot read DWARF: {}", path, dwarf_errmsg(dwarf_errno()));
  }
  return f;
}

DwarfFile::~DwarfFile() {
  if (dwarf_ != nullptr) {
    dwarf_end(dwarf_);
  }
  if (elf_ != nullptr) {
    elf_end(elf_);
  }
  if (fd_ >= 0) {
    close(fd_);
  }
}

}  // namespace cgotrace
