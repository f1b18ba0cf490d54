// Pieces `top` and `profile` share: a sampled process (its binary analysed,
// the sampler attached, frames named, calls tracked), and paced sleeping.
// Launching a command to sample is process/launch.h's LaunchCommand.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "binary/go_binary.h"
#include "cgotrace/result.h"
#include "sample/call_tracker.h"
#include "sample/sampler.h"
#include "sampleview/frame_names.h"

namespace cgotrace::cli {

// One process under sampling. Owns everything; destroy to detach.
struct SampledProcess {
  pid_t pid = 0;
  std::string comm;  // /proc/PID/comm
  std::unique_ptr<GoBinary> binary;
  std::unique_ptr<Sampler> sampler;
  uint64_t bias = 0;
  std::unique_ptr<FrameNamer> namer;
  CallTracker tracker;
};

// Errors name the PID: no such process, not a Go binary with cgo, offsets
// or TLS slot not found, no privileges.
Result<std::unique_ptr<SampledProcess>> OpenSampledProcess(pid_t pid, bool verbose);

// Sleeps until `deadline_ns` (CLOCK_MONOTONIC) or a stop request.
void SleepUntil(uint64_t deadline_ns);

}  // namespace cgotrace::cli
