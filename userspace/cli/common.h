// Pieces every cgotrace subcommand shares: target flags, output files, and
// the one-line error convention ("cgotrace: <what was wrong>", non-zero exit).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "cgotrace/result.h"
#include "cgotrace/session.h"

namespace cgotrace::cli {

// Exit statuses: 0 ok, 1 runtime failure, 2 usage error.
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct TargetFlags {
  std::vector<int> pids;
  std::vector<std::string> binaries;
  std::vector<std::string> command;  // filled from after "--" by main
  std::string duration;
  bool verbose = false;
};

void AddTargetFlags(CLI::App* app, TargetFlags* flags);
// Validates the flags (at least one target, PIDs > 0, parsable duration).
Result<SessionOptions> MakeSessionOptions(const TargetFlags& flags);

// Prints "cgotrace: <message>" on stderr and returns kExitFailure.
int Fail(const Error& error);

// An output stream: stdout for "" or "-", else a created file.
class Output {
 public:
  static Result<Output> Open(const std::string& path);
  Output(Output&& other) noexcept : file_(other.file_), owned_(other.owned_) {
    other.file_ = nullptr;
  }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  Output& operator=(Output&&) = delete;
  ~Output();
  FILE* get() const { return file_; }
  // Flushes and closes; Error if anything written could not be stored.
  Result<void> Close();

 private:
  Output(FILE* file, bool owned) : file_(file), owned_(owned) {}
  FILE* file_;
  bool owned_;
};

// Prints the attach summary the e2e tests and users wait for.
void ReportAttached(const Session& session);
// Prints "cgotrace: N events, M lost ..." after a run.
void ReportTotals(const Session& session, uint64_t delivered);

}  // namespace cgotrace::cli
