// Headless Chromium for the record/report tests: loads a page (a flame graph
// SVG, or an HTML page that checks a Chrome trace) and returns the DOM after
// its scripts ran.
#pragma once

#include <optional>
#include <string>

#include "harness.h"

namespace cgotrace::e2e {

// Path of the chromium binary, or "" when it is not installed.
std::string ChromiumBin();

// Runs `chromium --headless ... --dump-dom <url>`. On failure returns nullopt
// and says why in *error (not installed, crashed, timed out).
std::optional<std::string> DumpDom(const std::string& url, const TempDir& dir, std::string* error);

// An HTML page that parses `trace_json` (embedded in the page) in JavaScript
// and checks it as Perfetto will read it: every event complete ("X") with
// numeric ts/dur/pid/tid, metadata names for every thread, the events of a
// track sorted by ts and each one inside the previous still-open event or
// after it (proper nesting), and every callback inside a call of its own
// goroutine. Writes the verdict as JSON into <pre id="verdict">:
// {"errors":[...], "x": N, "threads": T, "tracks": K, "nested_callbacks": M,
//  "counts": {"<goid>/<name>/<kind>": n}}.
std::string TraceCheckPage(const std::string& trace_json);

// The JSON verdict from the dumped DOM of TraceCheckPage.
std::optional<Json> VerdictFromDom(const std::string& dom, std::string* error);

}  // namespace cgotrace::e2e
