#include "elf/elf_relocs.h"

#include <elf.h>

#include <algorithm>

#include "elf/elf_read.h"

namespace cgotrace {

RelativeRelocs::RelativeRelocs(const ElfFile& elf) : elf_(elf) {
  uint32_t relative = elf.arch() == Arch::kX86_64  ? R_X86_64_RELATIVE
                      : elf.arch() == Arch::kArm64 ? R_AARCH64_RELATIVE
                                                   : 0;
  if (relative == 0) {
    return;
  }
  for (const ElfSection& s : elf.sections()) {
    if (s.type != SHT_RELA || !(s.flags & SHF_ALLOC)) {
      continue;
    }
    auto data = elf.SectionData(s);
    if (!data.ok()) {
      continue;
    }
    for (size_t off = 0; off + sizeof(Elf64_Rela) <= data->size(); off += sizeof(Elf64_Rela)) {
      auto rela = elf_read::Load<Elf64_Rela>(data->data() + off);
      if (ELF64_R_TYPE(rela.r_info) == relative) {
        relocs_.emplace_back(rela.r_offset, static_cast<uint64_t>(rela.r_addend));
      }
    }
  }
  std::sort(relocs_.begin(), relocs_.end());
}

std::optional<uint64_t> RelativeRelocs::Addend(uint64_t vaddr) const {
  auto it = std::lower_bound(relocs_.begin(), relocs_.end(), std::make_pair(vaddr, uint64_t{0}));
  if (it != relocs_.end() && it->first == vaddr) {
    return it->second;
  }
  return std::nullopt;
}

std::optional<uint64_t> RelativeRelocs::ReadPointer(uint64_t vaddr) const {
  if (auto addend = Addend(vaddr)) {
    return addend;
  }
  auto bytes = elf_.ReadVaddr(vaddr, 8);
  if (!bytes.ok()) {
    return std::nullopt;
  }
  return elf_read::U64(*bytes, 0);
}

std::vector<uint64_t> RelativeRelocs::PointersTo(uint64_t target) const {
  std::vector<uint64_t> out;
  for (const auto& [where, addend] : relocs_) {
    if (addend == target) {
      out.push_back(where);
    }
  }
  return out;
}

}  // namespace cgotrace
