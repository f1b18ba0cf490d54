// The counters of a tracing run that say what the events do not show: the
// one list that TracerStats, the totals line of trace/stat/record, the
// recording trailer (and its protobuf message), the report and the
// exporter's self-metrics are built from, so a counter added here reaches
// every one of them, and one missing from proto/cgotrace.proto's Trailer is
// a compile error rather than a silently dropped number.
//
// X(name, text, metric, type, help):
//   name    the field in every struct and the proto field;
//   text    how a person is told about it ("N <text>");
//   metric  the exporter's Prometheus metric;
//   type    Counter, or Gauge for a number that can go down while a run lasts;
//   help    the metric's HELP line.
// A user of the list that needs only some columns takes the rest as `...`.
#pragma once

// unreturned: cgo calls that never saw their return: a process exit or a
// panic unwinding through C cut the call off, deeper nesting overwrote its
// in-flight frame, or it is still in C; counted by cause in BPF
// (TracerStats has the causes). While a run lasts it includes the calls in
// progress, hence a gauge.
// inflight_overflow: per-thread in-flight frames overwritten (nesting deeper
// than CGT_TASK_FRAMES); CGT_STAT_INFLIGHT_OVERFLOW.
#define CGOTRACE_RUN_COUNTERS(X)                                                                 \
  X(lost, "lost", "cgotrace_events_lost_total", Counter,                                         \
    "Events dropped because the BPF ring buffer was full")                                       \
  X(no_entry, "returns without entry", "cgotrace_returns_without_entry_total", Counter,          \
    "Call ends seen without their start (calls already running when tracing began)")             \
  X(read_fail, "unreadable goroutines", "cgotrace_goroutine_read_failures_total", Counter,       \
    "Probe hits whose goroutine could not be read from the process's memory")                    \
  X(stack_fail, "stacks not captured", "cgotrace_stacks_not_captured_total", Counter,            \
    "Go call stacks requested but not captured (stack map full or hash collision)")              \
  X(unreturned, "calls without a return", "cgotrace_calls_without_return", Gauge,                \
    "Call starts not (yet) followed by their end: calls in progress, and calls cut off by a "    \
    "process exit or a panic through C")                                                         \
  X(inflight_overflow, "in-flight frames dropped", "cgotrace_inflight_frames_dropped_total",     \
    Counter,                                                                                     \
    "Per-thread in-flight call frames dropped: nesting deeper than the frame stack, or a frame " \
    "whose end never ran")

// Counters of a live run that a recording never has (it takes events):
// TracerStats and the end-of-run line, not the trailer.
//
// agg_full: calls of a new (binary, function) not counted because the
// kernel's aggregation map was full (stat); reported with the lost count.
#define CGOTRACE_LIVE_COUNTERS(X) X(agg_full, "calls not counted (kernel aggregation map full)")

// Declares one uint64_t field per counter, zero-initialized.
#define CGOTRACE_COUNTER_FIELD(name, ...) uint64_t name = 0;
