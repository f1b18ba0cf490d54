// Helpers of the exporter's unit tests: the kernel's rows of known calls,
// the sample lines of an exposition, and shell commands (promtool, python3-yaml) run
// on fixed strings the tests build.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cgotrace/tracer.h"
#include "cgotrace_abi.h"

namespace cgotrace::test {

// The rows the kernel's export_rows and export_depth hold after the calls
// given (BPF's export_call, bucketing with the same cgt_pow2_bucket): one
// row per (binary, kind, function) in the order first seen, the re-entry of
// calls with a breakdown (sched_ns not 0), and the stack depth per binary.
class KernelRows {
 public:
  KernelRows& Call(const std::string& comm, const std::string& func, uint64_t ns, uint64_t depth,
                   uint64_t sched_ns = 0) {
    Add(ExportRow::Kind::kCall, comm, func, ns);
    if (sched_ns != 0) {
      Add(ExportRow::Kind::kReentry, comm, func, sched_ns);
    }
    Add(ExportRow::Kind::kStackDepth, comm, "", depth);
    return *this;
  }
  KernelRows& Callback(const std::string& comm, const std::string& func) {
    Add(ExportRow::Kind::kCallback, comm, func, 999);
    return *this;
  }
  const std::vector<ExportRow>& rows() const { return rows_; }

 private:
  void Add(ExportRow::Kind kind, const std::string& comm, const std::string& func, uint64_t v) {
    auto it = std::find_if(rows_.begin(), rows_.end(), [&](const ExportRow& r) {
      return r.kind == kind && r.comm == comm && r.func == func;
    });
    if (it == rows_.end()) {
      it = rows_.insert(rows_.end(), ExportRow{kind, func, comm, 0, 0, {}});
      it->buckets.assign(CGT_XP_BUCKETS, 0);
    }
    const bool depth = kind == ExportRow::Kind::kStackDepth;
    ++it->buckets[cgt_pow2_bucket(v, depth ? CGT_XP_STACK_BASE : CGT_XP_DURATION_BASE,
                                  depth ? CGT_XP_STACK_BOUNDS : CGT_XP_DURATION_BOUNDS)];
    ++it->count;
    it->sum += v;
  }
  std::vector<ExportRow> rows_;
};

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
