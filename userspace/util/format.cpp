#include "util/format.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <iterator>
#include <string>

namespace cgotrace {
namespace {

constexpr std::array<const char*, 4> kDurationUnits = {"ns", "µs", "ms", "s"};
constexpr uint64_t kNsPerSec = 1'000'000'000;

// Column widths shared by FormatEventText and EventTextHeader; over-long
// fields push the rest of the line right rather than being truncated.
constexpr int kTimeWidth = 12;
constexpr int kTaskWidth = 22;
constexpr int kGoidWidth = 8;
constexpr int kFuncWidth = 28;
constexpr int kDurationWidth = 8;

uint64_t Pow10(int exp) {
  uint64_t p = 1;
  while (exp-- > 0) {
    p *= 10;
  }
  return p;
}

int DecimalDigits(uint64_t v) {
  int n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

// Length of the well-formed UTF-8 sequence at s[i], or 0 if it is not one
// (stray continuation, overlong form, surrogate, above U+10FFFF, truncated).
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t len = 0;
  uint32_t cp = 0;
  uint32_t min_cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F, min_cp = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F, min_cp = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07, min_cp = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) {
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

}  // namespace

std::string HumanDuration(uint64_t ns) {
  if (ns < 1000) {
    return fmt::format("{}ns", ns);
  }
  // Past 999s there is no larger unit; whole seconds read better than
  // scientific notation.
  if (ns >= 999'500'000'000) {
    return fmt::format("{}s", ns / kNsPerSec + (ns % kNsPerSec >= kNsPerSec / 2 ? 1 : 0));
  }
  // Round to three significant digits in integers so that 1.235µs and
  // 999.9µs round the same way on every platform (999.9µs -> 1.00ms).
  int digits = DecimalDigits(ns);
  const uint64_t scale = Pow10(digits - 3);
  uint64_t mantissa = ns / scale + (ns % scale >= scale / 2 ? 1 : 0);
  if (mantissa == 1000) {
    mantissa = 100;
    ++digits;
  }
  const int exponent = digits - 1;
  const int unit = exponent / 3;  // < 4: ns rounds below 1000s here
  const int int_digits = exponent - 3 * unit + 1;
  const std::string m = fmt::format("{}", mantissa);
  if (int_digits >= 3) {
    return m + kDurationUnits[unit];
  }
  return fmt::format("{}.{}{}", m.substr(0, int_digits), m.substr(int_digits),
                     kDurationUnits[unit]);
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) {
    return fmt::format("{}B", bytes);
  }
  static constexpr std::array<const char*, 6> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  size_t unit = 0;
  double value = static_cast<double>(bytes) / 1024.0;
  // Move up a unit when one decimal would round to 1024.0 (e.g. 1048575B).
  while (unit + 1 < kUnits.size() && std::round(value * 10.0) >= 1024.0 * 10.0) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.1f}{}", value, kUnits[unit]);
}

std::string JsonQuote(const std::string& text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      // Go symbol names and comm are arbitrary bytes (comm may be cut
      // mid-character by the kernel); JSON readers reject invalid UTF-8.
      const size_t len = Utf8SequenceLength(text, i);
      if (len == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out.append(text, i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

std::string FormatEventJson(const CgoEvent& event) {
  std::string out =
      fmt::format(R"({{"event":"{}","pid":{},"tid":{},"goid":{},"func":{},"comm":{},)"
                  R"("start_ns":{},"duration_ns":{},"stack_depth":{})",
                  event.kind == EventKind::kCallback ? "cgo_callback" : "cgo_call", event.pid,
                  event.tid, event.goid, JsonQuote(event.func), JsonQuote(event.comm),
                  event.start_ns, event.duration_ns, event.stack_depth);
  // The breakdown's parts, only where measured (include/cgotrace/event.h).
  if (event.c_ns != 0) {
    out += fmt::format(R"(,"c_ns":{})", event.c_ns);
  }
  if (event.sched_ns != 0) {
    out += fmt::format(R"(,"sched_ns":{})", event.sched_ns);
  }
  if (!event.frames.empty()) {
    out += R"(,"stack":[)";
    for (size_t i = 0; i < event.frames.size(); ++i) {
      out += (i ? "," : "") + JsonQuote(event.frames[i]);
    }
    out += "]";
  }
  out += "}";
  return out;
}

std::string FormatEventText(const CgoEvent& event, uint64_t t0_ns) {
  // Events are emitted at return, so one may have started before t0.
  const bool negative = event.start_ns < t0_ns;
  const uint64_t elapsed = negative ? t0_ns - event.start_ns : event.start_ns - t0_ns;
  const std::string time = fmt::format("{}{}.{:06}", negative ? "-" : "", elapsed / kNsPerSec,
                                       elapsed % kNsPerSec / 1000);
  const std::string task = fmt::format("{}/{}/{}", event.comm, event.pid, event.tid);
  const std::string goid = fmt::format("g{}", event.goid);
  // "↳" marks a C->Go callback nested inside a cgo call.
  const std::string func = event.kind == EventKind::kCallback ? "↳ " + event.func : event.func;
  std::string line =
      fmt::format("{:>{}} {:<{}} {:<{}} {:<{}} {:>{}}  depth {}", time, kTimeWidth, task,
                  kTaskWidth, goid, kGoidWidth, func, kFuncWidth, HumanDuration(event.duration_ns),
                  kDurationWidth, HumanBytes(event.stack_depth));
  if (event.sched_ns != 0) {
    line += fmt::format("  (C {}, re-entry {})", HumanDuration(event.c_ns),
                        HumanDuration(event.sched_ns));
  }
  return line;
}

std::string EventTextHeader() {
  return fmt::format("{:>{}} {:<{}} {:<{}} {:<{}} {:>{}}  {}", "TIME(s)", kTimeWidth,
                     "COMM/PID/TID", kTaskWidth, "GOID", kGoidWidth, "FUNC", kFuncWidth, "DURATION",
                     kDurationWidth, "STACK");
}

}  // namespace cgotrace
