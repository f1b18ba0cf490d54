#include "util/duration.h"

#include <array>
#include <string>

#include <fmt/format.h>

namespace cgotrace {
namespace {

struct Unit {
  std::string_view name;
  uint64_t ns;
};

constexpr std::array<Unit, 8> kUnits{{{"", kNsPerSecond},
                                      {"s", kNsPerSecond},
                                      {"ms", kNsPerMs},
                                      {"us", 1000},
                                      {"µs", 1000},
                                      {"ns", 1},
                                      {"m", 60 * kNsPerSecond},
                                      {"h", kNsPerHour}}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A limit in the largest unit that states it exactly: "100ms", "8784h".
std::string LimitText(uint64_t ns) {
  for (const Unit& u : {kUnits[7], kUnits[6], kUnits[1], kUnits[2], kUnits[3]}) {
    if (ns >= u.ns && ns % u.ns == 0) {
      return fmt::format("{}{}", ns / u.ns, u.name);
    }
  }
  return fmt::format("{}ns", ns);
}

}  // namespace

Result<uint64_t> ParseDuration(std::string_view flag, std::string_view text, DurationRange range) {
  auto not_a_duration = [&] {
    return MakeError("{} '{}': not a duration (expected e.g. 500ms, 10s, 2m)", flag, text);
  };
  size_t pos = 0;
  // Whole and fractional digits as exact integers; 128 bits hold any
  // in-range value times any unit with room for the overflow check below.
  unsigned __int128 whole = 0;
  while (pos < text.size() && IsDigit(text[pos])) {
    whole = whole * 10 + static_cast<unsigned>(text[pos] - '0');
    if (whole > UINT64_MAX) {
      return MakeError("{} '{}': too long (at most {})", flag, text, LimitText(range.max_ns));
    }
    ++pos;
  }
  const size_t whole_digits = pos;
  unsigned __int128 frac = 0;
  unsigned __int128 frac_scale = 1;
  size_t frac_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && IsDigit(text[pos])) {
      // Digits past the 18th are below a nanosecond of any unit: truncated.
      if (frac_digits < 18) {
        frac = frac * 10 + static_cast<unsigned>(text[pos] - '0');
        frac_scale *= 10;
      }
      ++frac_digits;
      ++pos;
    }
    if (frac_digits == 0) {
      return not_a_duration();
    }
  }
  if (whole_digits == 0 && frac_digits == 0) {
    return not_a_duration();
  }
  const std::string_view unit_text = text.substr(pos);
  const Unit* unit = nullptr;
  for (const Unit& u : kUnits) {
    if (u.name == unit_text) {
      unit = &u;
    }
  }
  if (unit == nullptr) {
    return MakeError("{} '{}': unknown unit '{}' (expected ns, us, ms, s, m or h)", flag, text,
                     unit_text);
  }
  const unsigned __int128 ns = whole * unit->ns + frac * unit->ns / frac_scale;
  if (ns > range.max_ns) {
    return MakeError("{} '{}': too long (at most {})", flag, text, LimitText(range.max_ns));
  }
  if (ns < range.min_ns) {
    return MakeError("{} '{}': must be at least {}", flag, text, LimitText(range.min_ns));
  }
  return static_cast<uint64_t>(ns);
}

}  // namespace cgotrace
