// Nesting of a goroutine's events (see event_tree.h).
#include "record/event_tree.h"

#include <algorithm>
#include <tuple>

namespace cgotrace {

EventTree BuildEventTree(const std::vector<RecordedEvent>& ev) {
  EventTree t;
  // Sorting the keys themselves, not indexes into the events, keeps the
  // comparisons in cache: this sort is most of the cost of the pprof and
  // Perfetto views.
  struct Key {
    uint64_t goid;
    uint64_t start;
    uint64_t neg_duration;  // longer first
    uint32_t process;
    uint32_t callback;  // a call before a callback of the same interval
    uint32_t index;
    bool operator<(const Key& o) const {
      return std::tie(process, goid, start, neg_duration, callback, index) <
             std::tie(o.process, o.goid, o.start, o.neg_duration, o.callback, o.index);
    }
  };
  std::vector<Key> keys(ev.size());
  for (uint32_t i = 0; i < ev.size(); ++i) {
    const RecordedEvent& e = ev[i];
    keys[i] = {
        e.goid, e.start_ns, ~e.duration_ns, e.process, e.kind == EventKind::kCallback ? 1u : 0u, i};
  }
  std::sort(keys.begin(), keys.end());
  t.order.resize(ev.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    t.order[i] = keys[i].index;
  }
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
