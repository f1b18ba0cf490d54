// Bounds-checked little-endian reads over untrusted bytes, shared by the ELF
// and Go binary parsers. Internal to cgotrace_core.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

namespace cgotrace::elf_read {

// Copies a T out of possibly unaligned bytes; the caller checks bounds.
template <typename T>
T Load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// Little-endian unsigned integer of `width` (1..8) bytes at `offset`, or
// nullopt if it does not fit in `bytes`.
inline std::optional<uint64_t> Uint(std::span<const uint8_t> bytes, uint64_t offset,
                                    unsigned width) {
  if (offset > bytes.size() || width > bytes.size() - offset) {
    return std::nullopt;
  }
  uint64_t value = 0;
  for (unsigned i = 0; i < width; ++i) {
    value |= uint64_t{bytes[offset + i]} << (8 * i);
  }
  return value;
}

inline std::optional<uint32_t> U32(std::span<const uint8_t> bytes, uint64_t offset) {
  auto v = Uint(bytes, offset, 4);
  if (!v) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(*v);
}

inline std::optional<uint64_t> U64(std::span<const uint8_t> bytes, uint64_t offset) {
  return Uint(bytes, offset, 8);
}

// NUL-terminated string starting at `offset`; empty if out of range.
// Without a terminator the string stops at the end of `bytes`.
inline std::string_view CString(std::span<const uint8_t> bytes, uint64_t offset) {
  if (offset >= bytes.size()) {
    return {};
  }
  const char* start = reinterpret_cast<const char*>(bytes.data() + offset);
  size_t max = bytes.size() - offset;
  const void* nul = std::memchr(start, 0, max);
  size_t len = nul ? static_cast<const char*>(nul) - start : max;
  return {start, len};
}

// Like CString, but nullopt unless the terminator lies inside `bytes`.
inline std::optional<std::string_view> TerminatedString(std::span<const uint8_t> bytes,
                                                        uint64_t offset) {
  if (offset >= bytes.size()) {
    return std::nullopt;
  }
  std::string_view s = CString(bytes, offset);
  if (s.size() == bytes.size() - offset) {
    return std::nullopt;
  }
  return s;
}

}  // namespace cgotrace::elf_read
