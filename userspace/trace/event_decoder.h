// EventDecoder: turns raw ring-buffer records (struct cgt_event,
// bpf/cgotrace_abi.h) into symbolized CgoEvents.
//
// Needs no BPF and no root: the binaries come from GoBinary::Analyze and the
// call stacks from a lookup function, so tests feed it hand-made records.
// The decoder does not own the GoBinary objects; they must outlive it. Stack
// ids are stable for a loaded BPF object (no BPF_F_REUSE_STACKID), so each
// stack is looked up once and cached.
//
// Thread safety: not thread-safe; one thread decodes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "binary/go_binary.h"
#include "cgotrace/event.h"

namespace cgotrace {

class EventDecoder {
 public:
  // Runtime PCs of stack `id` as the `stacks` map holds them (frame 0 is the
  // probed runtime function, zero words pad the end); empty if unknown.
  using StackLookup = std::function<std::vector<uint64_t>(uint32_t id)>;

  explicit EventDecoder(StackLookup stacks) : stacks_(std::move(stacks)) {}

  // Makes binary index `index` (the BPF cookie's) decode with `bin`.
  void SetBinary(uint32_t index, const GoBinary* bin, std::string comm);

  // The event in `record`, or nullopt when the record is shorter than a
  // cgt_event or names a binary index that was never set.
  std::optional<CgoEvent> Decode(std::span<const uint8_t> record);

 private:
  struct Binary {
    const GoBinary* bin = nullptr;
    std::string comm;
  };
  const std::vector<uint64_t>& StackFor(uint32_t id);

  StackLookup stacks_;
  std::vector<Binary> binaries_;
  std::map<uint32_t, std::vector<uint64_t>> stack_cache_;
};

}  // namespace cgotrace
