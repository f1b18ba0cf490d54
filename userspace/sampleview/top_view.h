// TopView: the state of one process's cgo calls at one moment, as `cgotrace
// top` shows it: a header (threads, threads in C, goroutines, thread limit)
// and one row per thread inside a cgo call.
//
// BuildTopSnapshot names and ages the calls of one sample; the Format*
// functions are pure. Not thread-safe (the FrameNamer caches).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cgotrace/result.h"
#include "sample/call_tracker.h"
#include "sample/thread_sample.h"
#include "sampleview/frame_names.h"

namespace cgotrace {

struct TopCall {
  uint32_t tid = 0;
  uint64_t goid = 0;
  std::string func;
  std::string state;  // running, runnable or blocked (ThreadSample::state)
  uint64_t age_ns = 0;
  bool age_exact = false;
  uint64_t stack_depth = 0;
  std::string site;
  std::vector<CFrame> c_frames;
  bool c_frames_complete = false;
};

struct TopSnapshot {
  pid_t pid = 0;
  uint32_t threads = 0;
  uint32_t threads_in_c = 0;
  std::optional<int64_t> goroutines;    // allocated goroutines; unknown when stripped
  std::optional<int64_t> thread_limit;  // debug.SetMaxThreads; unknown when stripped
  uint64_t time_ns = 0;
  std::vector<TopCall> calls;
};

// Sorted by age (oldest first), function, or goroutine id.
enum class TopSort { kAge, kFunc, kGoid };
Result<TopSort> ParseTopSort(const std::string& text);  // age|func|goid

// The calls of `threads` (one sample, already fed to `tracker`).
TopSnapshot BuildTopSnapshot(pid_t pid, const std::vector<ThreadSample>& threads,
                             const CallTracker& tracker, FrameNamer& namer);
void SortTopCalls(TopSnapshot* snap, TopSort sort);

// Threads in C at or above this share of the thread limit get a warning.
inline constexpr double kThreadLimitWarnShare = 0.8;

// {"pid":..,"threads":..,"threads_in_c":..,"goroutines":..|null,
//  "thread_limit":..|null,"calls":[{"tid":..,"goid":..,"func":"..",
//  "state":"running|runnable|blocked","age_ns":..,"age_exact":..,"stack_depth":..,
//  "site":"..","c_frames":[{"func":"..","module":"..","addr":..}],
//  "c_frames_complete":..}]}
std::string FormatTopJson(const TopSnapshot& snap);
// The header lines and a table; at most `max_rows` rows (0: all).
std::string FormatTopText(const TopSnapshot& snap, size_t max_rows);

}  // namespace cgotrace
