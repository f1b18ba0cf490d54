// DwarfFile: libdw's view of an executable's DWARF, for the readers of Go
// runtime types (go_offsets_dwarf.cpp, the sampler's runtime.sched lookup).
//
// Read with pread(2), never mapped: libdw's own dwarf_begin() maps the whole
// file privately, and the kernel writes another tracer's uprobe breakpoints
// into every private executable mapping of a file (valid_vma() in
// kernel/events/uprobes.c), so cgotrace keeps no such mapping of a target.
// Owns the file descriptor, the libelf handle and the libdw handle.
//
// Thread safety: one thread at a time per DwarfFile.
#pragma once

#include <elfutils/libdw.h>
#include <libelf.h>

#include <memory>
#include <string>

#include "cgotrace/result.h"

namespace cgotrace {

class DwarfFile {
 public:
  // Error names the path and why (cannot open, no DWARF, libdw's message).
  static Result<std::unique_ptr<DwarfFile>> Open(const std::string& path);
  ~DwarfFile();
  DwarfFile(const DwarfFile&) = delete;
  DwarfFile& operator=(const DwarfFile&) = delete;

  Dwarf* get() const { return dwarf_; }

 private:
  DwarfFile() = default;
  int fd_ = -1;
  Elf* elf_ = nullptr;
  Dwarf* dwarf_ = nullptr;
};

}  // namespace cgotrace
