// Perfetto's native trace format (a stream of TracePackets, protobuf) of a
// recording, for ui.perfetto.dev and trace_processor.
//
// One track per goroutine, named "goroutine N" and grouped under its
// process's track (ordered by goroutine id); every cgo call is a slice named
// by its C function, with each callback (C calling Go) a slice nested inside
// its call and a call made by a callback nested inside that. Each slice has
// the arguments `tid` (the OS thread the call returned on) and, when stacks
// were recorded, `stack` (the Go call stack of its call site, innermost
// first, with file:line). A call measured with --breakdown has two slices
// nested in it: "in C" [start, start + c_ns], holding its callbacks, and
// "re-entering Go" [start + c_ns, start + c_ns + sched_ns]; a call whose
// callbacks do not lie in its C part keeps its slice without them. An event
// that overlaps another of its goroutine without nesting in it (clock or
// data trouble) goes to a track "goroutine N (overlapping)".
//
// Compact: one packet sequence, names and stacks interned, timestamps as
// deltas on an incremental clock; slice begin and end packets are encoded
// by hand, about 40 bytes per call. Timestamps are CLOCK_MONOTONIC (the
// trace's clock), with a snapshot of CLOCK_REALTIME for wall time.
//
// Pure function; needs about 16 bytes of memory per event beside the output.
#pragma once

#include <string>

#include "cgotrace/recording.h"

namespace cgotrace {

std::string FormatPerfettoTrace(const LoadedRecording& recording);

}  // namespace cgotrace
