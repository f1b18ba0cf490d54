// Helpers of the exporter's unit tests: events with known fields, the sample
// lines of an exposition, and shell commands (promtool, python3-yaml) run
// on fixed strings the tests build.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include "cgotrace/event.h"

namespace cgotrace::test {

inline CgoEvent Call(const std::string& comm, const std::string& func, uint64_t ns,
                     uint32_t depth) {
  CgoEvent ev;
  ev.kind = EventKind::kCall;
  ev.comm = comm;
  ev.func = func;
  ev.duration_ns = ns;
  ev.stack_depth = depth;
  ev.pid = 4242;
  ev.tid = 4243;
  ev.goid = 17;
  return ev;
}

inline CgoEvent Callback(const std::string& comm, const std::string& func) {
  CgoEvent ev = Call(comm, func, 999, 64);
  ev.kind = EventKind::kCallback;
  return ev;
}

// Parsed sample lines: "name{labels}" -> value text.
inline std::map<std::string, std::string> Samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    auto space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

struct CommandResult {
  int status = -1;
  std::string out;
};

// Runs a shell command (fixed strings built by the tests), stdout+stderr.
inline CommandResult Shell(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return r;
  }
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) {
    r.out.append(buf, n);
  }
  r.status = pclose(p);
  return r;
}

}  // namespace cgotrace::test
