// Nesting of a goroutine's events (see event_tree.h).
#include "report/event_tree.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace cgotrace {

EventTree BuildEventTree(const std::vector<RecordedEvent>& ev) {
  EventTree t;
  t.order.resize(ev.size());
  std::iota(t.order.begin(), t.order.end(), 0u);
  std::sort(t.order.begin(), t.order.end(), [&](uint32_t x, uint32_t y) {
    const RecordedEvent& a = ev[x];
    const RecordedEvent& b = ev[y];
    // Longer first; a call before a callback of the same interval.
    return std::tuple(a.process, a.goid, a.start_ns, ~a.duration_ns, a.kind != EventKind::kCall,
                      x) <
           std::tuple(b.process, b.goid, b.start_ns, ~b.duration_ns, b.kind != EventKind::kCall, y);
  });
  t.parent.assign(ev.size(), EventTree::kNone);
  t.overlaps.assign(ev.size(), false);
  t.depth.assign(ev.size(), 0);
  std::vector<uint32_t> open;
  auto end_of = [&](uint32_t i) { return ev[i].start_ns + ev[i].duration_ns; };
  for (size_t i = 0; i < t.order.size(); ++i) {
    const uint32_t idx = t.order[i];
    const RecordedEvent& e = ev[idx];
    if (i > 0 && (ev[t.order[i - 1]].process != e.process || ev[t.order[i - 1]].goid != e.goid)) {
      open.clear();
    }
    while (!open.empty() && end_of(open.back()) <= e.start_ns) {
      open.pop_back();
    }
    if (!open.empty() && end_of(idx) > end_of(open.back())) {
      t.overlaps[idx] = true;
      open.clear();
    }
    if (!open.empty()) {
      t.parent[idx] = open.back();
      t.depth[idx] = t.depth[open.back()] + 1;
    }
    open.push_back(idx);
  }
  return t;
}

}  // namespace cgotrace
