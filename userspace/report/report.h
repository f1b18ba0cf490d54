// Views of a recording for `cgotrace report`: a perf-report-like table (text
// or JSON), and folded call stacks (the input of flame graphs).
//
// The table streams (memory grows with rows, not events); the folded view
// needs every event of the recording in memory to nest callbacks inside
// the calls they ran in. All functions are pure over their inputs;
// ReportTable is single-threaded.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cgotrace/recording.h"
#include "cgotrace/result.h"

namespace cgotrace {

// ---------------------------------------------------------------------------
// Table: rows keyed by any combination of sort keys (--sort func,goid).

enum class ReportKey { kFunc, kGoid, kTid, kPid, kComm, kBinary };

// "func,goid" -> {kFunc, kGoid}. Error names an unknown or repeated key.
Result<std::vector<ReportKey>> ParseReportSort(const std::string& text);
const char* ReportKeyName(ReportKey key);  // "func", ...

struct TableOptions {
  std::vector<ReportKey> sort = {ReportKey::kFunc};
  double percent_limit = 0;  // hide rows below this % of total call time
  bool histograms = false;   // per-row latency histogram
};

// Per row duration statistics. Quantiles come from a LogLinearHistogram
// (< 2% error); count, total, min and max are exact.
struct TableRow {
  std::vector<std::string> key;       // one cell per sort key, as text
  std::vector<uint64_t> key_numbers;  // the same for numeric keys (0 for text)
  uint64_t count = 0;
  uint64_t total_ns = 0;
  double percent = 0;  // of the total time of all calls
  double mean_ns = 0;
  uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0, min_ns = 0;
  // Latency breakdown (RecordedEvent::c_ns / sched_ns) over the calls where
  // each part was measured: time in C, and re-entering Go (--breakdown).
  uint64_t c_count = 0, c_total_ns = 0;
  uint64_t sched_count = 0, sched_total_ns = 0, sched_max_ns = 0;
  std::string histogram;                         // RenderLog2Ascii text, when asked for
  std::vector<std::array<uint64_t, 3>> buckets;  // [lower, upper, count], when asked for
};

struct TableReport {
  std::vector<ReportKey> sort;
  double percent_limit = 0;
  uint64_t events = 0, calls = 0, callbacks = 0;
  uint64_t total_call_ns = 0;
  std::vector<TableRow> calls_rows;      // by total time, descending
  std::vector<TableRow> callbacks_rows;  // the same for C->Go callbacks
  uint64_t hidden_rows = 0;              // under percent_limit
};

// Accumulates events; Finish() computes rows once the reader is at its end.
class ReportTable {
 public:
  ReportTable(const RecordingReader& reader, TableOptions options);
  ~ReportTable();
  void Add(const RecordedEvent& event);
  TableReport Finish() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lines about the recording itself, like perf report's "# ..." header:
// host, kernel, start (UTC) and duration, command, processes, events, lost,
// truncation. Each line starts with "# ".
std::string FormatRecordingSummary(const RecordingReader& reader);
std::string FormatTableText(const RecordingReader& reader, const TableReport& report);
// {"recording":{...},"sort":[...],"percent_limit":..,"total_call_ns":..,
//  "calls":[{"func":..,"goid":..,"count":..,"total_ns":..,"percent":..,
//  "mean_ns":..,"p50_ns":..,"p99_ns":..,"max_ns":..,["buckets":[[lo,hi,n]..]]}],
//  "callbacks":[...],"hidden_rows":..}
std::string FormatTableJson(const RecordingReader& reader, const TableReport& report);

// ---------------------------------------------------------------------------
// Call-stack profile: each event becomes a path of frames, outermost first:
//   root; [truncated;] Go frames outermost->innermost; C function
// where root is "g<goid>" (goroutine), "tid <tid>" (thread), "<comm>/<pid>"
// (process) or absent. A callback is nested in the call it ran inside (same
// process and goroutine, interval within the call): its path is the call's
// path plus its own name, and a call made inside a callback continues the
// callback's path. Weights: time (ns of self time, so a call's width is its
// whole duration) or calls (1 per event).

enum class ProfileRoot { kGoroutine, kThread, kProcess, kNone };
enum class ProfileWeight { kTime, kCalls };
Result<ProfileRoot> ParseProfileRoot(const std::string& text);      // goroutine|thread|process|none
Result<ProfileWeight> ParseProfileWeight(const std::string& text);  // time|calls

enum class FrameType : uint8_t { kRoot, kGo, kC, kCallback, kTruncated };

struct ProfileFrame {
  std::string name;
  FrameType type = FrameType::kGo;
};

struct ProfileOptions {
  ProfileRoot root = ProfileRoot::kGoroutine;
  ProfileWeight weight = ProfileWeight::kTime;
};

struct Profile {
  std::vector<ProfileFrame> frames;  // distinct (name, type)
  struct Stack {
    std::vector<uint32_t> path;  // indexes into frames, outermost first
    uint64_t value = 0;
  };
  std::vector<Stack> stacks;  // merged, sorted by path names
  ProfileWeight weight = ProfileWeight::kTime;
  uint64_t total = 0;
};

Profile BuildProfile(const LoadedRecording& recording, const ProfileOptions& options);
// Brendan Gregg's folded format: "frame;frame;frame value\n" per stack,
// sorted. ';' in names becomes ':' (it would split the frame).
std::string FormatFolded(const Profile& profile);

}  // namespace cgotrace
