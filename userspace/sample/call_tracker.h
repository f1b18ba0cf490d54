// CallTracker: follows each thread's cgo call across samples, to tell how
// long it has been in C.
//
// A thread is in the same call while m.ncgocall and the goroutine stay the
// same between samples (m.ncgocall counts every cgo call the thread makes,
// so a new call to the same function is told apart). A call first seen in
// the first sample began before cgotrace watched: its age is a lower bound
// (age_exact false). A call first seen later began between two samples: its
// age is exact to within one sampling interval (it may read short by at
// most one interval). Pure bookkeeping; not thread-safe.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "sample/thread_sample.h"

namespace cgotrace {

class CallTracker {
 public:
  struct Call {
    uint64_t first_seen_ns = 0;  // time of the first sample that saw this call
    bool exact = false;
  };

  // Feeds one sample of every thread of the process.
  void Update(const std::vector<ThreadSample>& threads);
  // The call thread `tid` was in at the last Update, or nullptr if not in C.
  const Call* Find(uint32_t tid) const;

 private:
  struct State {
    bool in_c = false;
    uint64_t ncgocall = 0;
    uint64_t goid = 0;
    Call call;
  };
  std::unordered_map<uint32_t, State> threads_;
  bool seen_any_ = false;
};

}  // namespace cgotrace
