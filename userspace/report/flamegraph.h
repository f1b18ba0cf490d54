// Flame graph SVG of a call-stack Profile, written by cgotrace itself.
//
// Like flamegraph.pl: one rectangle per frame, root at the bottom, width
// proportional to weight, frames narrower than min_width_px left out. The
// SVG is self-contained, with embedded JavaScript: hover shows name, weight
// and percent; click zooms to a frame (and "Reset Zoom" undoes it); Search
// (or Ctrl-F) highlights frames matching a regular expression and shows the
// matched percent; ?s=REGEX in the URL searches on load. When the script has
// run, the root <svg> element carries data-cgotrace-ready="1" and
// data-frames="<number of frames drawn>".
//
// Output is deterministic: children are laid out in name order, colors are a
// hash of the frame name, and every text is XML-escaped. Pure function.
#pragma once

#include <string>

#include "report/report.h"

namespace cgotrace {

struct FlameGraphOptions {
  std::string title = "cgotrace: cgo calls by goroutine and Go call stack";
  std::string subtitle;  // e.g. host and recording time
  int width = 1200;
  int frame_height = 16;
  double min_width_px = 0.1;
};

std::string RenderFlameGraph(const Profile& profile, const FlameGraphOptions& options);

// Text with &, <, >, " and ' escaped, and characters XML 1.0 forbids
// (control characters but tab/newline) replaced by U+FFFD.
std::string XmlEscape(const std::string& text);

}  // namespace cgotrace
