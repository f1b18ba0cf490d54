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
// --breakdown (trace, stat, record, exporter): TracerOptions::breakdown.
void AddBreakdownFlag(CLI::App* app, bool* breakdown);
// Validates the flags (at least one target, PIDs > 0, --duration in range).
// Every error is a usage error (exit with Usage()).
Result<SessionOptions> MakeSessionOptions(const TargetFlags& flags);

// Prints "cgotrace: <message>" on stderr and returns kExitFailure.
int Fail(const Error& error);
// The same for a bad command line (a flag's value, a missing target):
// returns kExitUsage, like CLI11's own parse errors.
int Usage(const Error& error);

// Error unless `path` can be created or overwritten (the parent directory
// exists and is writable, the path is not a directory). Leaves an existing
// file's contents alone.
Result<void> CheckWritable(const std::string& path);

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
// cgotrace's exit status after a successful run: in launch mode the
// command's own (like time(1) and perf stat), unless cgotrace ended the
// command itself; else 0.
int SuccessStatus(const Session& session);

}  // namespace cgotrace::cli
