// The counters of a tracing run that say what the events do not show: the
// one list that TracerStats, the recording trailer (and its protobuf
// message) and the report are built from, so a counter added here reaches
// every one of them, and one missing from proto/cgotrace.proto's Trailer is
// a compile error rather than a silently dropped number.
//
// X(name, text): `name` is the field in every struct and the proto field;
// `text` is how a person is told about it ("N <text>").
#pragma once

//
// unreturned: entries that never saw their return (a process exit or a panic
// unwinding through C cut the call off, an LRU eviction, or the call was
// still running at detach). Derived by the tracer from the BPF counters
// (entries - events - lost - read_fail) until BPF counts the causes itself.
#define CGOTRACE_RUN_COUNTERS(X)        \
  X(lost, "lost")                       \
  X(no_entry, "returns without entry")  \
  X(read_fail, "unreadable goroutines") \
  X(stack_fail, "stacks not captured")  \
  X(unreturned, "calls without a return")

// Counters of a live run that a recording never has (it takes events):
// TracerStats and the end-of-run line, not the trailer.
//
// agg_full: calls of a new (binary, function) not counted because the
// kernel's aggregation map was full (stat); reported with the lost count.
#define CGOTRACE_LIVE_COUNTERS(X) X(agg_full, "calls not counted (kernel aggregation map full)")

// Declares one uint64_t field per counter, zero-initialized.
#define CGOTRACE_COUNTER_FIELD(name, text) uint64_t name = 0;
