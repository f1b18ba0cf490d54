#include "util/hex.h"

#include <fmt/format.h>

namespace cgotrace {

std::string HexBytes(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string HexAddr(uint64_t addr) { return fmt::format("0x{:x}", addr); }

}  // namespace cgotrace
