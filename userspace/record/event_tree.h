// EventTree: how the events of a recording nest. One goroutine runs one thing
// at a time, so its events nest properly: a callback (C calling Go) lies
// inside the cgo call it ran in, and a cgo call made by that callback inside
// the callback. The pprof and Perfetto views hang each event under its parent.
//
// Pure function over the events; the result indexes them.
#pragma once

#include <cstdint>
#include <vector>

#include "cgotrace/recording.h"

namespace cgotrace {

struct EventTree {
  static constexpr uint32_t kNone = UINT32_MAX;
  // Event indexes sorted by process, goroutine, start, longest first (a
  // call before a callback that starts with it): each event's parent comes
  // before it.
  std::vector<uint32_t> order;
  // Per event: the innermost event of its goroutine that was still open when
  // it started and ends no earlier than it, or kNone.
  std::vector<uint32_t> parent;
  // Per event: it overlaps an open event of its goroutine without nesting in
  // it (clock or data trouble), so it is a root that cannot share a track
  // with that event.
  std::vector<bool> overlaps;
  // Per event: number of ancestors.
  std::vector<uint32_t> depth;
};

EventTree BuildEventTree(const std::vector<RecordedEvent>& events);

}  // namespace cgotrace
