// CgoEvent: one completed cgo call or C->Go callback, decoded and symbolized.
//
// This is the event contract shared by every sink (text, jsonl, stat, and
// later the exporter and recorder). Produced by the Tracer from the raw BPF
// ring-buffer record (struct cgt_event in bpf_abi.h). Plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cgotrace {

enum class EventKind { kCall, kCallback };

struct CgoEvent {
  EventKind kind = EventKind::kCall;
  uint32_t pid = 0;  // as seen in the tracer's PID namespace
  uint32_t tid = 0;
  uint64_t goid = 0;  // goroutine that made the call
  std::string func;   // C function (call) or exported Go function (callback)
  std::string comm;   // short name of the traced binary
  // CLOCK_MONOTONIC at the start site (CALL runtime.asmcgocall; entry of
  // runtime.cgocall where the plan falls back). docs/architecture.md,
  // "Event contract", says what duration_ns spans and leaves out.
  uint64_t start_ns = 0;
  uint64_t duration_ns = 0;  // start site to end site, callbacks included
  // Latency breakdown of a cgo call (0 = not measured; a measured part is
  // never 0, since a probe hit alone takes longer than a nanosecond):
  // c_ns: time in C, from CALL runtime.asmcgocall to the straight-line block
  //   after it returns (CALL runtime.exitsyscall); measured for calls at the
  //   planned x86-64 sites, 0 for callbacks and entry / RET fallback sites.
  // sched_ns: time re-entering Go in runtime.exitsyscall, waiting for a P
  //   included, from CALL runtime.exitsyscall to the instruction after it
  //   returns; only with --breakdown, where duration_ns = c_ns + sched_ns.
  uint64_t c_ns = 0;
  uint64_t sched_ns = 0;
  uint32_t stack_depth = 0;  // g.stack.hi - SP at the call, bytes
  // Go call stack of the call site (innermost first) as link-time PCs (PIE
  // bias removed), when stack capture is on; empty otherwise. Symbolize with
  // the binary's GoPclntab::FuncAt.
  std::vector<uint64_t> stack;
  // The same stack symbolized through the binary's pclntab (works on
  // stripped binaries): Go function names, innermost first.
  std::vector<std::string> frames;
  std::string binary_path;  // executable the event came from (for symbolizing)
};

}  // namespace cgotrace
