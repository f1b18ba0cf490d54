#include "sample/call_tracker.h"

namespace cgotrace {

void CallTracker::Update(const std::vector<ThreadSample>& threads) {
  std::unordered_map<uint32_t, State> next;
  next.reserve(threads.size());
  for (const ThreadSample& t : threads) {
    State s;
    s.in_c = t.in_c;
    s.ncgocall = t.ncgocall;
    s.goid = t.goid;
    if (t.in_c) {
      auto it = threads_.find(t.tid);
      if (it != threads_.end() && it->second.in_c && it->second.ncgocall == t.ncgocall &&
          it->second.goid == t.goid) {
        s.call = it->second.call;
      } else {
        s.call.first_seen_ns = t.time_ns;
        // Seen after the first sample: it began while cgotrace watched (on a
        // thread seen outside this call, or on a thread created since).
        s.call.exact = seen_any_;
      }
    }
    next.emplace(t.tid, s);
  }
  threads_ = std::move(next);
  seen_any_ = true;
}

const CallTracker::Call* CallTracker::Find(uint32_t tid) const {
  auto it = threads_.find(tid);
  if (it == threads_.end() || !it->second.in_c) {
    return nullptr;
  }
  return &it->second.call;
}

}  // namespace cgotrace
