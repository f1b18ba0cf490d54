// Recording files: `cgotrace record` writes CgoEvents to a file that
// `cgotrace report` reads back later, on any machine.
//
// The format (proto/cgotrace.proto, package cgotrace.v1) is a stream of
// length-delimited protobuf records after an 8-byte magic and a version:
// a header (host, kernel, start time, tool version), then processes,
// interned strings, symbolized stacks and batches of events in columns, and a
// trailer once recording ended normally. Every batch is written to the file
// as soon as it is complete, so a recording cut short by kill -9 or a full
// disk keeps every complete batch; the reader reports such a file as
// truncated instead of failing.
//
// Thread safety: a RecordingWriter or RecordingReader is used by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgotrace/counters.h"
#include "cgotrace/event.h"
#include "cgotrace/result.h"

namespace cgotrace {

inline constexpr char kRecordingMagic[] = "CGOTRACE";  // 8 bytes, no NUL in file
inline constexpr uint32_t kRecordingFormatVersion = 1;
inline constexpr uint32_t kDefaultBatchEvents = 4096;

struct RecordingHeader {
  uint32_t format_version = kRecordingFormatVersion;
  std::string tool_version;
  std::string hostname;
  std::string kernel_release;
  std::string machine;
  // Read back to back at start: wall time of a monotonic timestamp t is
  // start_realtime_ns + (t - start_monotonic_ns).
  uint64_t start_realtime_ns = 0;
  uint64_t start_monotonic_ns = 0;
  std::vector<std::string> argv;
  std::vector<std::string> targets;
  bool call_stacks = false;
  uint32_t batch_events = kDefaultBatchEvents;
};

// This host and the current clocks: hostname, uname -r / -m, both start
// times. The caller fills tool_version, argv, targets and options.
RecordingHeader CurrentHostHeader();

struct RecordedProcess {
  uint32_t pid = 0;
  std::string comm;
  std::string binary_path;
  std::string build_id;
  std::string go_version;
};

struct RecordingTrailer {
  uint64_t events = 0;
  // The tracer's run counters (cgotrace/counters.h), as at the end.
  CGOTRACE_RUN_COUNTERS(CGOTRACE_COUNTER_FIELD)
  uint64_t end_realtime_ns = 0;
  uint64_t end_monotonic_ns = 0;
  int32_t exit_status = -1;
};

// A source file and line; line 0: unknown.
struct SourcePosition {
  std::string file;
  uint32_t line = 0;
};

// What the tracer knows of a traced binary, stored with each process.
struct RecordedBinary {
  // Where the file is, readable after the process is gone (the tracer names
  // processes attached by PID by their /proc/PID/exe); "": binary_path.
  std::string path;
  std::string build_id;
  std::string go_version;
  // file:line of a link-time PC, from the pclntab the tracer holds; unset:
  // stacks are stored without source positions.
  std::function<SourcePosition(uint64_t pc)> position_of;
};
// Answers for an event's binary_path; the writer asks once per binary.
using BinaryLookup = std::function<RecordedBinary(const std::string& binary_path)>;

// Writes a recording. Create() writes the header at once; Add() buffers
// events and writes a batch (with the strings, stacks and processes it needs,
// in one write(2)) every batch_events events; Flush() writes a partial batch
// (record calls it every second so a quiet target's events reach the disk);
// Finish() writes the last batch and the trailer and closes the file.
//
// Event binary_path/comm identify the process; its build id, Go version and
// the source position (file:line) of stack PCs come from the BinaryLookup
// (the tracer, which analysed the binary: the writer never opens it).
// Stacks: events' `frames` are stored as given; PCs without `frames` are
// stored as "0x..." names. Each distinct stack is stored once.
class RecordingWriter {
 public:
  // Errors: the file cannot be created, or the header cannot be written.
  // Without a lookup, processes are stored without build id and Go version.
  static Result<std::unique_ptr<RecordingWriter>> Create(const std::string& path,
                                                         const RecordingHeader& header,
                                                         BinaryLookup lookup = {});
  ~RecordingWriter();
  RecordingWriter(const RecordingWriter&) = delete;
  RecordingWriter& operator=(const RecordingWriter&) = delete;

  // Errors name the file and the system error (ENOSPC, EIO). After an error
  // the file still holds every record written before it.
  Result<void> Add(const CgoEvent& event);
  Result<void> Flush();
  // Kernel-side drops so far; stored in every batch, so a truncated file
  // still tells how many events were lost until its end.
  void SetLost(uint64_t lost) { lost_ = lost; }
  // `trailer.events` is filled in by the writer.
  Result<void> Finish(RecordingTrailer trailer);

  uint64_t events() const { return events_; }
  uint64_t bytes_written() const { return bytes_; }

 private:
  struct Impl;
  RecordingWriter();
  std::unique_ptr<Impl> impl_;
  uint64_t events_ = 0;
  uint64_t bytes_ = 0;
  uint64_t lost_ = 0;
};

// One event as stored: names are ids into the reader's tables.
struct RecordedEvent {
  EventKind kind = EventKind::kCall;
  uint32_t process = 0;  // RecordingReader::process()
  uint32_t tid = 0;
  uint64_t goid = 0;
  uint32_t func = 0;  // RecordingReader::str()
  uint64_t start_ns = 0;
  uint64_t duration_ns = 0;
  uint64_t c_ns = 0;      // CgoEvent::c_ns; 0 in older files
  uint64_t sched_ns = 0;  // CgoEvent::sched_ns (--breakdown); 0 in older files
  uint32_t stack_depth = 0;
  uint32_t stack = 0;  // RecordingReader::stack(); 0: none
};

struct RecordedStack {
  std::vector<uint32_t> frames;  // string ids, innermost first
  std::vector<uint64_t> pcs;     // link-time return addresses, same order
  // Source position of each frame's call site (string id of the file, line;
  // line 0: unknown), same order as pcs; empty when not recorded (older
  // files, unreadable binary).
  std::vector<uint32_t> files;
  std::vector<uint32_t> lines;
  bool truncated = false;
};

// Reads a recording record by record. Open() checks the magic, the version
// and the header; NextBatch() returns events batch by batch. Tables (strings,
// stacks, processes) grow as records are read and resolve every event
// returned so far.
class RecordingReader {
 public:
  // Errors (one line, naming `path`): cannot open, empty, not a cgotrace
  // recording (foreign magic), newer format version, corrupt or missing
  // header.
  static Result<std::unique_ptr<RecordingReader>> Open(const std::string& path);
  ~RecordingReader();
  RecordingReader(const RecordingReader&) = delete;
  RecordingReader& operator=(const RecordingReader&) = delete;

  const RecordingHeader& header() const { return header_; }

  // Replaces *out with the next batch; returns false at the end of the file
  // (with or without trailer). A record cut short at the end of the file ends
  // it (truncated()); a complete record that does not parse, or an event that
  // refers to an unknown string, stack or process, is an Error naming the
  // byte offset.
  Result<bool> NextBatch(std::vector<RecordedEvent>* out);

  const std::string& str(uint32_t id) const { return strings_[id]; }
  const RecordedStack& stack(uint32_t id) const { return stacks_[id]; }
  const RecordedProcess& process(uint32_t index) const { return processes_[index]; }
  const std::vector<RecordedProcess>& processes() const { return processes_; }

  // Valid once NextBatch() returned false.
  bool truncated() const { return !trailer_.has_value(); }
  const std::optional<RecordingTrailer>& trailer() const { return trailer_; }
  uint64_t events_read() const { return events_read_; }
  // Kernel drops: the trailer's count, else the last batch's.
  uint64_t lost() const { return trailer_ ? trailer_->lost : batch_lost_; }
  // Monotonic end of the recording: the trailer's, else the last batch's.
  uint64_t end_monotonic_ns() const;

  // The event with its names resolved (frames innermost first).
  CgoEvent ToCgoEvent(const RecordedEvent& event) const;

 private:
  struct Impl;
  RecordingReader();
  Result<bool> ReadRecord(std::string* bytes);
  Result<void> Apply(const std::string& bytes, std::vector<RecordedEvent>* out, bool* is_batch);

  std::unique_ptr<Impl> impl_;
  RecordingHeader header_;
  std::vector<std::string> strings_;
  std::vector<RecordedStack> stacks_;  // [0] is the empty "no stack"
  std::vector<RecordedProcess> processes_;
  std::optional<RecordingTrailer> trailer_;
  uint64_t events_read_ = 0;
  uint64_t batch_lost_ = 0;
  uint64_t last_batch_monotonic_ns_ = 0;
};

// A whole recording in memory, for views that need every event at once
// (folded stacks, flame graph, Chrome trace). About 48 bytes per event.
struct LoadedRecording {
  std::unique_ptr<RecordingReader> reader;  // tables and header
  std::vector<RecordedEvent> events;        // file order
};
Result<LoadedRecording> LoadRecording(const std::string& path);

}  // namespace cgotrace
