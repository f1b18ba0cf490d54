// Attaching a binary's site plan: one RAII uprobe link per site, grouped per
// (binary, process), all-or-nothing.
//
// Attachments owns every link; destroying it (or removing a process) removes
// those breakpoints. A plan is attached completely or not at all: on the first
// failure the links made so far are destroyed before the Error returns, so a
// target never runs with half of its sites (a start without its end would
// leave calls in flight forever). The owner must destroy Attachments before
// the BpfObject whose program the links run.
//
// BinaryConfigFor checks what the BPF side can read before anything is
// attached. Thread safety: not thread-safe; one thread drives it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "binary/site_plan.h"
#include "cgotrace/result.h"
#include "cgotrace_abi.h"
#include "elf/elf_file.h"
#include "offsets/go_offsets.h"

struct bpf_link;
struct bpf_program;

namespace cgotrace {

// Owns one uprobe attachment; destroying it removes the breakpoint.
class UprobeLink {
 public:
  explicit UprobeLink(bpf_link* link) : link_(link) {}
  ~UprobeLink();
  UprobeLink(UprobeLink&& o) noexcept : link_(std::exchange(o.link_, nullptr)) {}
  UprobeLink& operator=(UprobeLink&& o) noexcept;
  UprobeLink(const UprobeLink&) = delete;
  UprobeLink& operator=(const UprobeLink&) = delete;

 private:
  bpf_link* link_;
};

// The `binaries` map entry for a binary at `path`. Error, naming the binary,
// the runtime.g field and its offset, when an offset is not a multiple of 8
// inside the CGT_G_PREFIX_BYTES the BPF programs read.
Result<cgt_binary_config> BinaryConfigFor(const std::string& path, const RuntimeOffsets& offsets);

class Attachments {
 public:
  // Whether (binary, pid) is attached; pid -1 = every process of the binary.
  bool Has(uint32_t binary, pid_t pid) const { return links_.count({binary, pid}) != 0; }

  // Attaches `prog` at every site of `plan` in `elf` (the file at `path`)
  // for `pid` (-1: every process running it), each with the cookie of
  // (site, binary, slot). Returns the number of probes; on Error nothing of
  // this call stays attached.
  Result<size_t> Attach(bpf_program* prog, uint32_t binary, const ElfFile& elf,
                        const std::string& path, pid_t pid, const SitePlan& plan);

  // Detaches everything attached for `pid`. No-op for unknown PIDs.
  void RemovePid(pid_t pid);
  // Detaches (binary, pid); no-op if not attached.
  void Remove(uint32_t binary, pid_t pid) { links_.erase({binary, pid}); }
  // PIDs with probes of their own (not whole-binary attachments).
  std::vector<pid_t> Pids() const;
  size_t CountFor(uint32_t binary) const;
  size_t Total() const;
  void Clear() { links_.clear(); }

 private:
  std::map<std::pair<uint32_t, pid_t>, std::vector<UprobeLink>> links_;
};

}  // namespace cgotrace
