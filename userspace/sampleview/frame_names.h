// FrameNamer: names the addresses a sample holds, for one live process.
//
// Go frames (return addresses on the goroutine stack) are named through the
// binary's pclntab, so stripped binaries work. C frames (the thread's
// instruction pointer and frame-pointer chain) are named with BCC's
// symbolizer (libbcc, bcc_syms.h), which reads /proc/PID/maps and the ELF
// symbols of every mapped module: shared libraries and the executable's own
// C code alike. Owns the BCC symbol cache (freed on destruction). Built
// without BCC (CGOTRACE_BCC=OFF, the arm64 cross build), C frames are named
// only inside the executable (its pclntab and ELF symbols), others are shown
// as addresses in their module. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "binary/go_binary.h"

namespace cgotrace {

struct CFrame {
  uint64_t addr = 0;
  std::string func;    // symbol, or "0x..." when unknown
  std::string module;  // path of the mapped file, "" when unknown
};

// What a sample says about one cgo call, with every address named.
struct NamedCall {
  std::string func;                   // the C function as written in Go: "sqlite3_step"
  std::string site;                   // the Go function that called it: "main.query"
  std::vector<CFrame> c_frames;       // innermost first, up to the cgo trampoline
  bool c_frames_complete = false;     // the chain reached Go (asmcgocall)
  std::vector<std::string> go_stack;  // Go callers, innermost first, from the _Cfunc_ wrapper
  std::vector<uint64_t> go_pcs;       // their return addresses (runtime), parallel to go_stack
};

class FrameNamer {
 public:
  // `bias`: the executable's load bias in this process (target_process.h).
  FrameNamer(pid_t pid, const GoBinary& binary, uint64_t bias);
  ~FrameNamer();
  FrameNamer(const FrameNamer&) = delete;
  FrameNamer& operator=(const FrameNamer&) = delete;

  // Names the frames of a sample taken in C. `c_frames` innermost first
  // (c_frames[0] is the instruction pointer), `go_frames` from cgocall's
  // return address up. The reference stays valid as long as the namer:
  // equal frames give the same object, so callers may key on its address.
  const NamedCall& Name(const std::vector<uint64_t>& c_frames,
                        const std::vector<uint64_t>& go_frames);

  // pclntab name of a runtime address in the Go binary, or "".
  std::string GoName(uint64_t addr) const;

  const GoBinary& binary() const { return binary_; }
  uint64_t bias() const { return bias_; }

 private:
  CFrame NameC(uint64_t addr);

  pid_t pid_;
  const GoBinary& binary_;
  uint64_t bias_;
  void* cache_ = nullptr;  // bcc symcache
  std::unordered_map<uint64_t, CFrame> c_names_;
  // Keyed by the frames' bytes: c_frames, a separator, go_frames.
  std::unordered_map<std::string, NamedCall> calls_;
};

}  // namespace cgotrace
