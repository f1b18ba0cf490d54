// Hexadecimal text: build ids and instruction bytes ("c3"), addresses
// ("0x4a1f20"). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace cgotrace {

// Lower-case digits, two per byte, no separator.
std::string HexBytes(std::span<const uint8_t> bytes);
// "0x" and lower-case digits: an address shown where no name is known.
std::string HexAddr(uint64_t addr);

}  // namespace cgotrace
