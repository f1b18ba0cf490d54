// ElfFile: mapping, ELF/program/section headers and address translation.
// Symbols and notes are parsed in elf_symbols.cpp.
#include "elf/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "elf/elf_read.h"

namespace cgotrace {

const char* ArchName(Arch arch) {
  switch (arch) {
    case Arch::kX86_64:
      return "x86_64";
    case Arch::kArm64:
      return "arm64";
    case Arch::kOther:
      break;
  }
  return "other";
}

namespace {

// Owns an fd for the duration of Open(); the mapping outlives it.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// Section-header extended numbering (ELF gABI): counts that do not fit in
// 16 bits live in section 0.
constexpr uint16_t kShnXindex = SHN_XINDEX;

}  // namespace

Result<std::unique_ptr<ElfFile>> ElfFile::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError("{}: {}", path, std::strerror(errno));
  }
  FdCloser closer(fd);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    return MakeError("{}: {}", path, std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return MakeError("{}: not a regular file", path);
  }
  if (static_cast<uint64_t>(st.st_size) < EI_NIDENT) {
    return MakeError("{}: not an ELF file (only {} bytes)", path, st.st_size);
  }
  // MAP_SHARED, read-only: the kernel writes a uprobe's breakpoint into
  // every private executable mapping of the file (valid_vma() in
  // kernel/events/uprobes.c skips VM_MAYSHARE ones), so a private mapping
  // would show another tracer's breakpoints instead of the program's
  // instructions. A shared mapping shows the page cache: the file as on disk.
  void* map = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    return MakeError("{}: mmap: {}", path, std::strerror(errno));
  }
  std::unique_ptr<ElfFile> elf(new ElfFile());
  elf->path_ = path;
  elf->data_ = static_cast<const uint8_t*>(map);
  elf->size_ = static_cast<size_t>(st.st_size);
  CGT_TRY(elf->ParseHeaders());
  CGT_TRY(elf->ParseSections());
  CGT_TRY(elf->ParseSymbols());
  elf->ParseBuildId();
  return elf;
}

ElfFile::~ElfFile() {
  if (data_ != nullptr) {
    munmap(const_cast<uint8_t*>(data_), size_);
  }
}

Result<void> ElfFile::ParseHeaders() {
  if (std::memcmp(data_, ELFMAG, SELFMAG) != 0) {
    return MakeError("{}: not an ELF file", path_);
  }
  if (data_[EI_CLASS] != ELFCLASS64) {
    return MakeError("{}: not a 64-bit ELF file", path_);
  }
  if (data_[EI_DATA] != ELFDATA2LSB) {
    return MakeError("{}: not a little-endian ELF file", path_);
  }
  if (size_ < sizeof(Elf64_Ehdr)) {
    return MakeError("{}: truncated ELF header", path_);
  }
  auto eh = elf_read::Load<Elf64_Ehdr>(data_);
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
    return MakeError("{}: not an executable or shared object (e_type {})", path_, eh.e_type);
  }
  is_pie_ = eh.e_type == ET_DYN;
  arch_ = eh.e_machine == EM_X86_64    ? Arch::kX86_64
          : eh.e_machine == EM_AARCH64 ? Arch::kArm64
                                       : Arch::kOther;
  if (eh.e_phnum == 0) {
    return Ok();
  }
  if (eh.e_phentsize < sizeof(Elf64_Phdr)) {
    return MakeError("{}: bad program header size {}", path_, eh.e_phentsize);
  }
  if (!InFile(eh.e_phoff, uint64_t{eh.e_phnum} * eh.e_phentsize)) {
    return MakeError("{}: truncated program header table", path_);
  }
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    auto ph = elf_read::Load<Elf64_Phdr>(data_ + eh.e_phoff + uint64_t{i} * eh.e_phentsize);
    if (ph.p_type != PT_LOAD) {
      continue;
    }
    if (!InFile(ph.p_offset, ph.p_filesz)) {
      return MakeError("{}: PT_LOAD segment {} (offset {:#x}, size {:#x}) extends past end of file",
                       path_, i, ph.p_offset, ph.p_filesz);
    }
    if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr) {
      return MakeError("{}: PT_LOAD segment {} wraps the address space", path_, i);
    }
    segments_.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_flags});
  }
  return Ok();
}

Result<void> ElfFile::ParseSections() {
  auto eh = elf_read::Load<Elf64_Ehdr>(data_);
  if (eh.e_shoff == 0) {
    return Ok();  // section headers stripped: segments still work
  }
  if (eh.e_shentsize < sizeof(Elf64_Shdr)) {
    return MakeError("{}: bad section header size {}", path_, eh.e_shentsize);
  }
  if (!InFile(eh.e_shoff, sizeof(Elf64_Shdr))) {
    return MakeError("{}: truncated section header table", path_);
  }
  auto sh0 = elf_read::Load<Elf64_Shdr>(data_ + eh.e_shoff);
  uint64_t count = eh.e_shnum != 0 ? eh.e_shnum : sh0.sh_size;
  uint64_t strndx = eh.e_shstrndx != kShnXindex ? eh.e_shstrndx : sh0.sh_link;
  if (count > size_ / sizeof(Elf64_Shdr) || !InFile(eh.e_shoff, count * eh.e_shentsize)) {
    return MakeError("{}: truncated section header table", path_);
  }
  std::vector<Elf64_Shdr> headers(count);
  for (uint64_t i = 0; i < count; ++i) {
    headers[i] = elf_read::Load<Elf64_Shdr>(data_ + eh.e_shoff + i * eh.e_shentsize);
  }
  std::span<const uint8_t> names;
  if (strndx != SHN_UNDEF) {
    if (strndx >= count || !InFile(headers[strndx].sh_offset, headers[strndx].sh_size)) {
      return MakeError("{}: section name table outside the file", path_);
    }
    names = {data_ + headers[strndx].sh_offset, headers[strndx].sh_size};
  }
  sections_.reserve(count);
  for (const Elf64_Shdr& sh : headers) {
    sections_.push_back({std::string(elf_read::CString(names, sh.sh_name)), sh.sh_type, sh.sh_flags,
                         sh.sh_addr, sh.sh_offset, sh.sh_size});
    section_links_.push_back(sh.sh_link);
  }
  return Ok();
}

const ElfSection* ElfFile::FindSection(std::string_view name) const {
  for (const ElfSection& s : sections_) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

Result<std::span<const uint8_t>> ElfFile::SectionData(const ElfSection& section) const {
  if (section.type == SHT_NOBITS) {
    return std::span<const uint8_t>();
  }
  if (!InFile(section.offset, section.size)) {
    return MakeError("{}: section {} (offset {:#x}, size {:#x}) extends past end of file", path_,
                     section.name, section.offset, section.size);
  }
  return std::span<const uint8_t>(data_ + section.offset, section.size);
}

Result<uint64_t> ElfFile::VaddrToFileOffset(uint64_t vaddr) const {
  for (const ElfSegment& seg : segments_) {
    if (vaddr < seg.vaddr || vaddr - seg.vaddr >= seg.memsz) {
      continue;
    }
    if (vaddr - seg.vaddr >= seg.filesz) {
      return MakeError("{}: address {:#x} is not file-backed (in .bss)", path_, vaddr);
    }
    return seg.offset + (vaddr - seg.vaddr);
  }
  return MakeError("{}: address {:#x} is not in any PT_LOAD segment", path_, vaddr);
}

Result<std::span<const uint8_t>> ElfFile::ReadVaddr(uint64_t vaddr, size_t len) const {
  for (const ElfSegment& seg : segments_) {
    if (vaddr < seg.vaddr || vaddr - seg.vaddr >= seg.filesz) {
      continue;
    }
    uint64_t rel = vaddr - seg.vaddr;
    if (len > seg.filesz - rel) {
      return MakeError("{}: {} bytes at {:#x} run past the end of their segment", path_, len,
                       vaddr);
    }
    return std::span<const uint8_t>(data_ + seg.offset + rel, len);
  }
  Result<uint64_t> offset = VaddrToFileOffset(vaddr);  // fails here; names why
  if (offset.ok()) {
    return MakeError("{}: address {:#x} is not file-backed", path_, vaddr);
  }
  return offset.error();
}

}  // namespace cgotrace
