// The one parser of durations given on the command line (--duration,
// --interval, --rescan, ...), so every flag accepts the same text and
// rejects the same nonsense with the same kind of message.
//
// Accepted: a decimal number and an optional unit: "500ms", "2.5s", "1m",
// "100us" (or "µs"), "250ns", "1h", "10" (seconds). Rejected: signs,
// exponents, "inf", "nan", hex, empty text, trailing junk, values that do not
// fit the flag's range (which also rules out overflow). Arithmetic is exact
// integer nanoseconds: fractions finer than 1 ns are truncated.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "cgotrace/result.h"

namespace cgotrace {

struct DurationRange {
  uint64_t min_ns = 1;
  uint64_t max_ns = UINT64_MAX;
};

inline constexpr uint64_t kNsPerMs = 1'000'000ULL;
inline constexpr uint64_t kNsPerSecond = 1'000'000'000ULL;
inline constexpr uint64_t kNsPerHour = 3600 * kNsPerSecond;
inline constexpr uint64_t kNsPerDay = 24 * kNsPerHour;

// The ranges of cgotrace's flags (docs/usage in each subcommand's --help).
// --duration: 0 would mean nothing; "until stopped" is spelled by omitting it.
inline constexpr DurationRange kRunDurationRange{kNsPerMs, 366 * kNsPerDay};
// --interval: the run loop wakes at least every 100 ms, so shorter ticks
// could not be kept anyway.
inline constexpr DurationRange kIntervalRange{100 * kNsPerMs, kNsPerDay};
// --rescan: each rescan reads all of /proc.
inline constexpr DurationRange kRescanRange{100 * kNsPerMs, kNsPerHour};

// Errors are one line naming the flag and the text, e.g.
// "--duration 'inf': not a duration (expected e.g. 500ms, 10s, 2m)" or
// "--interval '1ms': must be at least 100ms".
Result<uint64_t> ParseDuration(std::string_view flag, std::string_view text, DurationRange range);

}  // namespace cgotrace
