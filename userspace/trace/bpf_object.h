// BpfObject: the loaded cgotrace BPF object (bpf/cgotrace.bpf.c): its
// skeleton, maps and ring buffer, owned by one RAII object.
//
// Load() runs open -> configure (rodata, map sizes) -> load, attaches the
// thread-exit program (not the probe sites) and sets up the ring-buffer
// consumer; destruction frees everything. Probe sites are attached elsewhere
// (site_attach.h): links must be destroyed before this object, which
// their owner (Tracer) guarantees. Map accessors translate libbpf failures
// into Errors or, for monitoring reads, into zero values.
//
// Thread safety: not thread-safe; one thread drives it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "cgotrace/result.h"
#include "cgotrace/tracer.h"
#include "cgotrace_abi.h"

struct bpf_link;
struct bpf_program;
struct cgotrace_bpf;
struct ring_buffer;

namespace cgotrace {

class BpfObject {
 public:
  // Called for every ring-buffer record during Poll(); the span is valid
  // only during the call.
  using RecordFn = std::function<void(std::span<const uint8_t>)>;

  // Errors: no privilege (names what to grant), verifier rejection, invalid
  // ring-buffer size.
  static Result<std::unique_ptr<BpfObject>> Load(const TracerOptions& options);
  ~BpfObject();
  BpfObject(const BpfObject&) = delete;
  BpfObject& operator=(const BpfObject&) = delete;

  Result<void> SetBinary(uint32_t binary, const cgt_binary_config& cfg);
  Result<void> SetSite(uint32_t binary, uint32_t slot, const cgt_site_desc& desc);
  // Frees index `binary` for another binary: its config becomes invalid (the
  // program ignores hits carrying it) and its in_cgo count restarts at 0.
  // Its site descriptors are overwritten by the next binary's SetSite calls.
  void ClearBinary(uint32_t binary);

  // The program attached at every site: cgt_site, or cgt_empty when the
  // options asked for empty probes (the benchmark's kernel floor).
  bpf_program* site_program() const;

  // Waits up to timeout_ms, then hands every available record to `fn`.
  // Returns the number of records, or an Error; EINTR is not an error.
  Result<int> Poll(int timeout_ms, const RecordFn& fn);

  // Calls of `binary` inside runtime.cgocall now (may be negative briefly).
  int64_t InCgo(uint32_t binary) const;
  // The raw runtime PCs of stack `id` (CGT_STACK_DEPTH words, zero-padded);
  // empty if the id is unknown.
  std::vector<uint64_t> Stack(uint32_t id) const;
  // Every key of the `aggregates` map with its value (of every binary, or of
  // one); unreadable entries (deleted meanwhile) are skipped.
  struct Aggregate {
    cgt_agg_key key;
    std::vector<uint64_t> value;  // a cgt_agg_value (18 KiB) or cgt_export_value, as words
    const cgt_agg_value& get() const {
      return *reinterpret_cast<const cgt_agg_value*>(value.data());
    }
    const cgt_export_value& get_export() const {
      return *reinterpret_cast<const cgt_export_value*>(value.data());
    }
  };
  std::vector<Aggregate> Aggregates(std::optional<uint32_t> binary = std::nullopt) const;
  // Deletes the `aggregates` keys of `binary` (after reading them).
  void DeleteAggregates(uint32_t binary);
  // The same for the exporter's `export_rows` (values are cgt_export_value:
  // use get_export()); deleting also zeroes the binary's `export_depth`.
  std::vector<Aggregate> ExportRows(std::optional<uint32_t> binary = std::nullopt) const;
  void DeleteExportRows(uint32_t binary);
  // The exporter's stack-depth histogram of `binary` (`export_depth`).
  cgt_pow2_hist ExportDepth(uint32_t binary) const;
  // Turns per-call events on or off (TracerOptions::events_enabled) while
  // probes stay attached. Safe from any thread: one store into the mapped
  // `.data` that the programs read at each hit.
  void SetEventsEnabled(bool on);
  // Sum over CPUs of counter `which` (enum cgt_stat).
  uint64_t Counter(uint32_t which) const;
  ProgramStats RunStats() const;

 private:
  BpfObject() = default;
  static int OnRecord(void* ctx, void* data, size_t size);

  cgotrace_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  // cgt_thread_exit at sched_process_exit: drops what an exiting thread
  // had in flight (in_cgo, unreturned counters). Destroyed before skel_.
  bpf_link* exit_link_ = nullptr;
  const RecordFn* record_fn_ = nullptr;
  int records_ = 0;
  bool empty_probes_ = false;
};

// Why loading or attaching failed for lack of privilege, and what to grant.
const char* BpfPermissionHint();

}  // namespace cgotrace
