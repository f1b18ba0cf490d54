// Shared expectations for the end-to-end tests: the test base classes, and
// the comparison of cgotrace's JSONL events with a fixture's own truth.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "harness.h"

namespace cgotrace::e2e {

// Base for tests that run the CLI against real BPF: they fail (never skip)
// when the machine cannot run them, so a misconfigured CI is noticed.
class BpfTest : public ::testing::Test {
 protected:
  void SetUp() override;
  TempDir dir_;
};

// Base for tests that only run the CLI (no BPF needed).
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  TempDir dir_;
};

// Modest fixture arguments that keep the whole suite fast on 2 cores while
// still exercising every scenario.
std::vector<std::string> ModestCgocallsArgs();

// Waits for the fixture's atomically written truth file and parses it.
std::optional<Json> ReadTruth(const std::string& path, std::string* error);

// Calls of `func` a cgocalls fixture made, over all its goroutines.
int64_t TruthCalls(const Json& truth, const std::string& func);

// The tracer's events from a JSONL file; fails the test on malformed lines.
std::vector<Json> ReadEventsOrFail(const std::string& path);

// Events of one process.
std::vector<Json> ForPid(const std::vector<Json>& events, uint64_t pid);

// Every event has the documented fields with sane types and values.
void ExpectWellFormed(const std::vector<Json>& events);

// Number of events of a kind ("cgo_call"/"cgo_callback") per (goid, func).
std::map<std::pair<uint64_t, std::string>, int64_t> CountByGoidFunc(const std::vector<Json>& events,
                                                                    const std::string& kind);

int64_t CountKind(const std::vector<Json>& events, const std::string& kind);

// The set of func names of a kind, for failure messages.
std::string FuncSummary(const std::vector<Json>& events);

// Which cgo calls of the process the tracer could have seen.
enum class Window {
  // Probes were in place before the program's first instruction (launch
  // mode, --binary started before the program): every cgo call the process
  // ever made, i.e. runtime.NumCgoCall() at the end.
  kWholeProcess,
  // Attached by PID while the fixture waited for SIGUSR1: exactly the calls
  // between the fixture's two NumCgoCall readings.
  kAfterSignal,
};

// Compares one cgocalls run's events (already restricted to its pid) with its
// truth: exact per (goroutine, C function) counts, the blocking, deep,
// callback and locked-thread properties, and the total against NumCgoCall.
// comm is the binary's base name (the kernel's 15-character truncation of it
// is accepted too).
void ExpectMatchesCgocallsTruth(const Json& truth, const std::vector<Json>& events, Window window,
                                const std::string& comm);

// Flat values by function name of `go tool pprof -top` output, whose rows
// are "flat flat% sum% cum cum% name [file:line]".
std::map<std::string, uint64_t> PprofFlatByName(const std::string& top);

// Flat values by function name of `go tool pprof -sample_index=INDEX -top`
// of the profile `pb`, every row shown; time sample types in nanoseconds.
std::map<std::string, uint64_t> PprofFlat(const TempDir& dir, const std::string& pb,
                                          const std::string& sample_index);

// Calls per C function (and callbacks per exported Go function) of a
// cgocalls-format truth, summed over its goroutines.
std::map<std::string, uint64_t> TruthCallsByFunc(const Json& truth);

// `go tool pprof -sample_index=calls -top` of the profile `pb` shows exactly
// `want` calls for each function of `want`.
void ExpectPprofCalls(const TempDir& dir, const std::string& pb,
                      const std::map<std::string, uint64_t>& want);

// Expected comm of a program: its base name.
std::string CommOf(const std::string& path);

// A failed CLI invocation as the contract demands: non-zero exit and exactly
// one stderr line, starting "cgotrace: ".
void ExpectCleanError(const RunResult& r, const std::string& what);

}  // namespace cgotrace::e2e
