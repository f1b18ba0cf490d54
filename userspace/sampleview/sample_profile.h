// SampleProfile: where threads spent their time in C over a sampling run
// (`cgotrace profile`), built from rounds of samples of every thread.
//
// Every round samples each thread once (wall clock: running and blocked
// threads alike), so a function's samples / rounds is the average number of
// threads in it, and its on-CPU samples / samples the share of that time it
// was running rather than blocked (runnable: wanting a CPU but waiting for
// one, counted apart: on a loaded machine that is where a spinner's time goes). Stacks (Go callers
// outermost first, then the C frames) feed the folded and flame-graph views of report/. Not
// thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cgotrace/result.h"
#include "report/report.h"
#include "sample/thread_sample.h"
#include "sampleview/frame_names.h"

namespace cgotrace {

class SampleProfile {
 public:
  struct Function {
    std::string func;
    uint64_t samples = 0;
    uint64_t on_cpu_samples = 0;    // running on a CPU
    uint64_t runnable_samples = 0;  // wanting a CPU, waiting for one
  };
  struct Goroutine {
    uint64_t goid = 0;
    uint32_t pid = 0;
    std::string func;  // the C function it was last seen in
    uint64_t samples = 0;
    uint64_t on_cpu_samples = 0;
    uint64_t runnable_samples = 0;
  };

  explicit SampleProfile(uint32_t frequency_hz) : frequency_hz_(frequency_hz) {}

  // One round of one process. `comm` roots the stacks ("app/1234"). The
  // profile keeps references into `namer`, which must outlive it.
  void AddRound(const std::vector<ThreadSample>& threads, FrameNamer& namer,
                const std::string& comm);
  // Call once per round across all processes.
  void CountRound() { ++rounds_; }
  void SetDuration(uint64_t ns) { duration_ns_ = ns; }

  uint32_t frequency_hz() const { return frequency_hz_; }
  uint64_t rounds() const { return rounds_; }
  uint64_t thread_samples() const { return thread_samples_; }
  uint64_t samples_in_c() const { return samples_in_c_; }
  uint64_t duration_ns() const { return duration_ns_; }
  // By samples, most first.
  std::vector<Function> Functions() const;
  std::vector<Goroutine> Goroutines() const;
  // Weight: time (each sample stands for 1/frequency s of one thread).
  Profile ToProfile() const;

 private:
  uint32_t frequency_hz_;
  uint64_t rounds_ = 0;
  uint64_t thread_samples_ = 0;
  uint64_t samples_in_c_ = 0;
  uint64_t duration_ns_ = 0;
  std::map<std::string, Function> functions_;
  std::map<std::pair<uint32_t, uint64_t>, Goroutine> goroutines_;
  struct Root {
    std::string comm;
    const FrameNamer* namer;
  };
  // (root, named call, goid) -> samples; paths are built once, at the end.
  std::vector<Root> roots_;
  std::map<std::tuple<size_t, const NamedCall*, uint64_t>, uint64_t> stacks_;

  friend Result<std::string> SampleProfilePprof(const SampleProfile& profile);
};

// A gzipped pprof profile (formats/pprof.h): sample types samples/count and
// wall/nanoseconds (default); each sample's stack is the C frames (leaf
// first) over the Go frames with their file:line; labels goid and binary.
Result<std::string> SampleProfilePprof(const SampleProfile& profile);

// Per function: share of in-C samples, average threads, on-CPU share; then
// goroutines.
std::string FormatSampleProfileText(const SampleProfile& profile);
// {"frequency_hz":..,"rounds":..,"duration_ns":..,"thread_samples":..,
//  "samples_in_c":..,"functions":[{"func":..,"samples":..,"on_cpu_samples":..,
//  "runnable_samples":..}],"goroutines":[{"pid":..,"goid":..,"func":..,"samples":..,
//  "on_cpu_samples":..,"runnable_samples":..}]}
std::string FormatSampleProfileJson(const SampleProfile& profile);

}  // namespace cgotrace
