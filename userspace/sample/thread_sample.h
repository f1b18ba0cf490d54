// ThreadSample: one thread of a Go process as one run of the sampling
// program saw it, decoded from the iterator's byte stream.
//
// Plain values; DecodeSamples is a pure function (unit-tested on synthetic
// streams), thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cgotrace/result.h"
#include "cgotrace_sample_abi.h"

namespace cgotrace {

struct ThreadSample {
  uint32_t pid = 0;
  uint32_t tid = 0;
  bool go_thread = false;  // has a g: a thread of the Go runtime
  bool in_c = false;       // inside a cgo call (g0, m.incgo, m.curg)
  bool runnable = false;   // TASK_RUNNING: on a CPU or waiting for one
  bool on_cpu = false;     // on a CPU at the moment of the sample
  bool read_failed = false;
  bool c_truncated = false;  // more C frames than were read
  // The program did not read again what it read in this thread's previous
  // sample (CGT_SAMPLE_SAME_CALL / _SAME_C); Sampler fills those fields in.
  bool same_call = false;
  bool same_c = false;
  bool unchanged = false;  // CGT_SAMPLE_UNCHANGED: all but time and state
  uint64_t goid = 0;       // m.curg.goid when in C
  uint64_t ncgocall = 0;   // m.ncgocall: changes with every new cgo call
  uint64_t syscallsp = 0;
  uint64_t syscallpc = 0;
  uint64_t stack_hi = 0;
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC when read
  // Runtime addresses. c_frames[0] is the thread's saved instruction pointer;
  // go_frames[0] is the return address into the _Cfunc_ wrapper.
  std::vector<uint64_t> c_frames;
  std::vector<uint64_t> go_frames;

  // "running" (on a CPU), "runnable" (waiting for a CPU) or "blocked".
  const char* state() const { return on_cpu ? "running" : runnable ? "runnable" : "blocked"; }

  // Goroutine stack in use at the call: g.stack.hi - g.syscallsp (0 if unknown).
  uint64_t stack_depth() const {
    return stack_hi > syscallsp && syscallsp != 0 ? stack_hi - syscallsp : 0;
  }
};

// Decodes one iterator read: a sequence of struct cgt_sample, each followed
// by its frames. Error if the stream is truncated or a count is out of range.
Result<std::vector<ThreadSample>> DecodeSamples(std::span<const uint8_t> bytes);

}  // namespace cgotrace
