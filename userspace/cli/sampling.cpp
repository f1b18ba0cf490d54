#include "sampling.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "cgotrace/session.h"
#include "process/process.h"
#include "util/clock.h"

namespace cgotrace::cli {

Result<std::unique_ptr<SampledProcess>> OpenSampledProcess(pid_t pid, bool verbose) {
  if (pid <= 0) {
    return MakeError("invalid PID {}", pid);
  }
  auto exe = ProcessExePath(pid);
  if (!exe) {
    return exe.error();
  }
  auto p = std::make_unique<SampledProcess>();
  p->pid = pid;
  p->comm = ProcessComm(pid);
  auto bin = GoBinary::Analyze(*exe);
  if (!bin) {
    return MakeError("PID {}: {}", pid, bin.error().message);
  }
  p->binary = std::move(*bin);
  auto opened = OpenProcessSampler(pid, *p->binary, verbose);
  if (!opened) {
    return opened.error();
  }
  p->bias = opened->bias;
  p->sampler = std::move(opened->sampler);
  p->namer = std::make_unique<FrameNamer>(pid, *p->binary, p->bias);
  return p;
}

void SleepUntil(uint64_t deadline_ns) {
  // Short naps so a stop request is seen within 50 ms.
  constexpr uint64_t kNapNs = 50'000'000;
  for (;;) {
    uint64_t now = MonotonicNs();
    if (now >= deadline_ns || Session::StopRequested()) {
      return;
    }
    uint64_t nap = std::min(deadline_ns - now, kNapNs);
    timespec ts{static_cast<time_t>(nap / 1'000'000'000), static_cast<long>(nap % 1'000'000'000)};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace cgotrace::cli
