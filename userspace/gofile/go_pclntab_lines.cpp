// File and line lookup in the pclntab (runtime/symtab.go: pcvalue, step,
// funcfile): a function's pcfile and pcln tables are runs of (value delta,
// PC delta) pairs starting at (-1, entry).
#include <algorithm>

#include "elf/elf_read.h"
#include "gofile/go_pclntab_internal.h"

namespace cgotrace {
namespace {

// An unsigned LEB128 varint of at most 32 bits at *pos; advances *pos.
std::optional<uint32_t> ReadVarint(const std::vector<uint8_t>& b, uint64_t* pos) {
  uint32_t v = 0;
  for (unsigned shift = 0; shift < 35; shift += 7) {
    if (*pos >= b.size()) {
      return std::nullopt;
    }
    const uint8_t byte = b[(*pos)++];
    v |= static_cast<uint32_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      return v;
    }
  }
  return std::nullopt;
}

// The value of the table at `offset` in the pctab for target (entry <=
// target < end of the function), or nullopt when the table ends before it.
std::optional<int32_t> PcValue(const pclntab::LineData& d, uint32_t offset, uint64_t entry,
                               uint64_t target) {
  if (offset == 0) {
    return std::nullopt;
  }
  uint64_t pos = d.pctab + offset;
  int32_t value = -1;
  uint64_t pc = entry;
  for (bool first = true;; first = false) {
    auto delta = ReadVarint(d.bytes, &pos);
    if (!delta || (*delta == 0 && !first)) {
      return std::nullopt;
    }
    // Zigzag: the low bit is the sign.
    value += static_cast<int32_t>(-(*delta & 1) ^ (*delta >> 1));
    auto pc_delta = ReadVarint(d.bytes, &pos);
    if (!pc_delta) {
      return std::nullopt;
    }
    pc += uint64_t{*pc_delta} * d.quantum;
    if (target < pc) {
      return value;
    }
  }
}

}  // namespace

std::optional<SourceLine> GoPclntab::LineAt(uint64_t pc) const {
  const GoFunc* f = FuncAt(pc);
  if (f == nullptr || !lines_) {
    return std::nullopt;
  }
  const pclntab::LineData& d = *lines_;
  const pclntab::FuncLineRefs& refs = d.funcs[static_cast<size_t>(f - funcs_.data())];
  auto file_index = PcValue(d, refs.pcfile, f->entry, pc);
  auto line = PcValue(d, refs.pcln, f->entry, pc);
  if (!file_index || !line || *file_index < 0 || *line < 0) {
    return std::nullopt;
  }
  std::span<const uint8_t> bytes(d.bytes);
  auto file_offset =
      elf_read::U32(bytes, d.cutab + 4 * (uint64_t{refs.cu} + static_cast<uint64_t>(*file_index)));
  if (!file_offset || *file_offset == UINT32_MAX) {
    return std::nullopt;
  }
  auto file = elf_read::TerminatedString(bytes.subspan(std::min<uint64_t>(d.filetab, bytes.size())),
                                         *file_offset);
  if (!file || file->empty()) {
    return std::nullopt;
  }
  return SourceLine{*file, static_cast<uint32_t>(*line)};
}

}  // namespace cgotrace
