// pprof profiles (profile.proto, gzipped): what `go tool pprof`, Parca,
// Pyroscope and Grafana read.
//
// PprofBuilder is the writer, independent of where samples come from: a
// recording of cgo calls (PprofFromRecording below) or a sampling profiler.
// The caller declares mappings (binaries), locations (a Go frame at a PC with
// its file:line, or a frame known by name only, such as a C function) and
// samples (a leaf-first list of locations plus labels); values added to the
// same sample accumulate. Finish() serializes and gzips.
//
// Thread safety: one thread per builder. PprofFromRecording is pure.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cgotrace/recording.h"
#include "cgotrace/result.h"

namespace cgotrace {

struct PprofValueType {
  std::string type;  // "calls"
  std::string unit;  // "count"
};

struct PprofLabel {
  int64_t key = 0;  // PprofBuilder::String ids
  int64_t value = 0;
};

class PprofBuilder {
 public:
  // `sample_types`: the values of every sample, in order; `default_type`
  // indexes the one pprof shows unless told otherwise.
  PprofBuilder(std::vector<PprofValueType> sample_types, size_t default_type);
  ~PprofBuilder();
  PprofBuilder(const PprofBuilder&) = delete;
  PprofBuilder& operator=(const PprofBuilder&) = delete;

  // Index of s in the string table (added once).
  int64_t String(std::string_view s);

  // A binary; one id per distinct (path, build id). Its functions, files and
  // lines are all given by the builder, so pprof never symbolizes it again.
  uint64_t Mapping(const std::string& path, const std::string& build_id);
  // A Go frame: `pc` is the link-time return address in the mapping's
  // binary, `line` the line of the call (0: unknown). One location per
  // (mapping, pc).
  uint64_t PcLocation(uint64_t mapping, uint64_t pc, std::string_view function,
                      std::string_view file, uint32_t line);
  // A frame known by name only (a C function, a callback, "[truncated]"):
  // one location per (mapping, name).
  uint64_t NamedLocation(uint64_t mapping, std::string_view function);

  // The sample with exactly these locations (leaf first) and labels; the
  // same arguments give the same index.
  size_t Sample(std::vector<uint64_t> locations, const std::vector<PprofLabel>& labels);
  // Adds one value per sample type to a sample, in their order; values past
  // the last sample type are ignored.
  void Add(size_t sample, std::span<const int64_t> values);

  // Profile-wide fields; comments show in `go tool pprof -comments`.
  void SetTime(int64_t time_nanos, int64_t duration_nanos);
  void SetPeriod(const PprofValueType& type, int64_t period);
  void AddComment(std::string_view comment);

  size_t samples() const;
  // The gzipped profile.
  Result<std::string> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Gzip (RFC 1952) of bytes, as pprof files are stored.
Result<std::string> Gzip(std::string_view bytes);

// The cgo calls of a recording as a pprof profile: sample types calls/count
// and time/nanoseconds (default); each sample's stack is the C function as
// leaf over the Go call stack of its call site (function, file:line); a
// callback is a leaf over the call it ran in, and a call made inside a
// callback continues that callback's stack. Time is self time, as in the
// folded view: a call's own time without its callbacks', so cumulative time
// of a frame is the whole time spent below it and nothing counts twice.
// Labels: goid, thread (the TID the call returned on) and binary (path).
// A recording with the latency breakdown (record --breakdown: calls carry
// sched_ns) adds c_time/nanoseconds and sched_time/nanoseconds after those
// two: a call's time in C without its callbacks (so time = c_time +
// sched_time for every call), and its time re-entering Go; callbacks have 0
// of both.
Result<std::string> PprofFromRecording(const LoadedRecording& recording);

}  // namespace cgotrace
