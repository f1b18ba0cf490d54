// EventDecoder: cgt_event records to CgoEvents.
#include "trace/event_decoder.h"

#include <fmt/format.h>

#include <cstring>

#include "cgotrace_abi.h"
#include "util/hex.h"

namespace cgotrace {

void EventDecoder::SetBinary(uint32_t index, const GoBinary* bin, std::string comm) {
  if (binaries_.size() <= index) {
    binaries_.resize(index + 1);
  }
  binaries_[index] = Binary{bin, std::move(comm)};
}

const std::vector<uint64_t>& EventDecoder::StackFor(uint32_t id) {
  auto it = stack_cache_.find(id);
  if (it != stack_cache_.end()) {
    return it->second;
  }
  std::vector<uint64_t> ips = stacks_(id);
  std::vector<uint64_t> out;
  // Frame 0 is runtime.cgocall itself: the call site starts at frame 1.
  for (size_t i = 1; i < ips.size() && ips[i] != 0; ++i) {
    out.push_back(ips[i]);
  }
  return stack_cache_.emplace(id, std::move(out)).first->second;
}

std::optional<CgoEvent> EventDecoder::Decode(std::span<const uint8_t> record) {
  if (record.size() < sizeof(cgt_event)) {
    return std::nullopt;
  }
  cgt_event raw;
  memcpy(&raw, record.data(), sizeof(raw));
  if (raw.binary >= binaries_.size() || binaries_[raw.binary].bin == nullptr) {
    return std::nullopt;
  }
  const Binary& b = binaries_[raw.binary];
  const uint64_t bias = raw.load_bias;
  CgoEvent ev;
  ev.pid = raw.pid;
  ev.tid = raw.tid;
  ev.goid = raw.goid;
  ev.comm = b.comm;
  ev.binary_path = b.bin->elf().path();
  ev.start_ns = raw.start_ns;
  ev.duration_ns = raw.duration_ns;
  ev.c_ns = raw.c_ns;
  ev.sched_ns = raw.sched_ns;
  ev.stack_depth = raw.stack_depth;
  if (raw.stack_id != CGT_NO_STACK) {
    for (uint64_t pc : StackFor(raw.stack_id)) {
      ev.stack.push_back(pc - bias);
      const GoFunc* f = b.bin->pclntab().FuncAt(pc - bias);
      ev.frames.push_back(f != nullptr ? f->name : HexAddr(pc - bias));
    }
  }
  if (raw.kind == CGT_EV_CALLBACK) {
    ev.kind = EventKind::kCallback;
    ev.func = b.bin->CallbackName(raw.fn);
  } else {
    ev.kind = EventKind::kCall;
    ev.func = b.bin->CallName(raw.fn, raw.caller_pc);
  }
  return ev;
}

}  // namespace cgotrace
