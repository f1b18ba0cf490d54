// Event sinks of `cgotrace trace`: text lines (like perf trace) or JSON lines.
//
// A sink writes to a FILE* it does not own (stdout, or a file the CLI opened),
// with full buffering; Flush() is called at the end and on every poll round so
// that a reader of the output sees events within the poll interval.
// Thread safety: none; the session's thread calls it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "cgotrace/event.h"
#include "cgotrace/result.h"

namespace cgotrace {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(const CgoEvent& event) = 0;
  // Error when the output could not be written (disk full, closed pipe).
  virtual Result<void> Flush() = 0;
};

enum class EventFormat { kText, kJsonl };
Result<EventFormat> ParseEventFormat(const std::string& text);  // "text"|"jsonl"

std::unique_ptr<EventSink> MakeEventSink(EventFormat format, FILE* out);

}  // namespace cgotrace
