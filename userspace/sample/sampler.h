// Sampler: reads, on demand, what every thread of one Go process is doing,
// from the Go runtime's own state (TLS -> g -> m -> curg), with no probe on
// any call: the target pays nothing per cgo call.
//
// Owns the sampling BPF object and one task-iterator link for the process;
// each Sample() runs the iterator once over all the process's threads. The
// BPF object is configured for the binary `Open` was given (its runtime
// offsets and TLS slot), so a Sampler serves one process of one binary.
// Destruction detaches. Not thread-safe: one thread drives a Sampler.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "binary/go_binary.h"
#include "cgotrace/result.h"
#include "cgotrace_sample_abi.h"
#include "sample/thread_sample.h"

namespace cgotrace {

// The sampling program's configuration for one binary. Error (naming the
// binary) if g's TLS slot or cgocall's frame cannot be found, or an offset
// lies beyond what the program reads of runtime.g / runtime.m.
Result<cgt_sample_config> MakeSampleConfig(const GoBinary& binary);

class Sampler {
 public:
  // Loads the program and attaches a task iterator for process `pid`, which
  // must be running `binary`. Errors name the PID and say what is missing
  // (privileges, BTF, the process).
  static Result<std::unique_ptr<Sampler>> Open(pid_t pid, const GoBinary& binary, bool verbose);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // One sample of every thread. Empty when the process has exited.
  Result<std::vector<ThreadSample>> Sample();

  pid_t pid() const { return pid_; }

 private:
  struct Impl;
  explicit Sampler(pid_t pid);
  pid_t pid_;
  std::unique_ptr<Impl> impl_;
};

// A sampler of one process and where its executable is loaded: what `top`,
// `profile` and the exporter's --sample keep for each process they sample.
struct ProcessSampler {
  uint64_t bias = 0;  // ExecutableLoadBias
  std::unique_ptr<Sampler> sampler;
};

// ExecutableLoadBias and Sampler::Open for `pid` running `binary`; errors
// name the PID.
Result<ProcessSampler> OpenProcessSampler(pid_t pid, const GoBinary& binary, bool verbose);

}  // namespace cgotrace
