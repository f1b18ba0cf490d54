// Event formatting shared by sinks: human units and JSON lines.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "cgotrace/event.h"

namespace cgotrace {

// "850ns", "12.3µs", "4.56ms", "1.23s": three significant digits.
std::string HumanDuration(uint64_t ns);
// "512B", "8.0KiB", "1.5MiB".
std::string HumanBytes(uint64_t bytes);
// JSON string literal with quotes and escapes (UTF-8 passed through,
// control characters as \u00XX).
std::string JsonQuote(const std::string& text);

// {"event":"cgo_call","pid":..,"tid":..,"goid":..,"func":"..","comm":"..",
//  "start_ns":..,"duration_ns":..,"stack_depth":..}  (no trailing newline)
std::string FormatEventJson(const CgoEvent& event);
// One aligned line like perf trace:
// "   12.345678 app/1234/1240 g17   sqlite3_step      12.3µs  depth=1.2KiB"
// `t0_ns` is subtracted from start_ns for the leading seconds column.
std::string FormatEventText(const CgoEvent& event, uint64_t t0_ns);
std::string EventTextHeader();

}  // namespace cgotrace
