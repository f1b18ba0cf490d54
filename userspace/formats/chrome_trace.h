// Chrome Trace Event Format (JSON) of a recording, for Perfetto
// (ui.perfetto.dev) and chrome://tracing.
//
// One track per OS thread (pid, tid), each event a complete event ("ph":"X")
// named by the C function (or the callback's Go function), ts and dur in
// microseconds with nanosecond decimals, args {goid, tid, stack_depth,
// duration_ns, kind[, stack]}. Events on a track are written sorted by ts,
// then longest first, so a callback follows the call it ran in and lies
// within it, as Perfetto requires of nested slices; a callback is drawn on
// the track of its call (whose tid is the thread the call returned on). An event that overlaps
// an earlier one on its thread without nesting in it under a call of its own
// goroutine (a call whose goroutine moved to another thread before
// returning) goes to an extra track of the same process named
// "tid N (overlapping)". Timestamps are
// relative to the recording's start; process_name and thread_name metadata
// events name the tracks. Pure function.
#pragma once

#include <string>

#include "cgotrace/recording.h"

namespace cgotrace {

std::string FormatChromeTrace(const LoadedRecording& recording);

}  // namespace cgotrace
