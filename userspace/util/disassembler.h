// Disassembler: RAII owner of a capstone handle and of the one instruction
// buffer that cs_disasm_iter decodes into, for the libraries that read
// machine code (binary/ probe sites, offsets/ sampling layout).
//
// Header-only: it adds no link dependency to cgotrace_util; a library that
// includes it links capstone itself. Destruction frees the buffer and closes
// the handle. Not thread-safe (capstone handles are per thread).
#pragma once

#include <capstone/capstone.h>

#include <cstdint>
#include <span>

#include "cgotrace/result.h"

namespace cgotrace {

class Disassembler {
 public:
  Disassembler() = default;
  ~Disassembler() {
    if (insn_ != nullptr) {
      cs_free(insn_, 1);
    }
    if (open_) {
      cs_close(&handle_);
    }
  }
  Disassembler(const Disassembler&) = delete;
  Disassembler& operator=(const Disassembler&) = delete;

  // Opens capstone for `arch` / `mode`; `detail` turns on operand details
  // (insn()->detail). Error says which capstone call failed and why.
  Result<void> Open(cs_arch arch, cs_mode mode, bool detail = false) {
    cs_err err = cs_open(arch, mode, &handle_);
    if (err != CS_ERR_OK) {
      return MakeError("capstone cs_open failed: {}", cs_strerror(err));
    }
    open_ = true;
    if (detail) {
      cs_option(handle_, CS_OPT_DETAIL, CS_OPT_ON);
    }
    insn_ = cs_malloc(handle_);
    if (insn_ == nullptr) {
      return MakeError("capstone cs_malloc failed");
    }
    return Ok();
  }

  csh handle() const { return handle_; }
  // The buffer cs_disasm_iter decodes into; valid after a successful Open.
  cs_insn* insn() const { return insn_; }

  // Walks machine code one instruction at a time:
  //   Disassembler::Cursor c = dis.Decode(vaddr, code);
  //   while (const cs_insn* insn = c.Next()) { ... }
  // Next() decodes the next instruction into insn() and returns it, or
  // nullptr at the end of the code or at the first bytes capstone cannot
  // decode. Borrows the disassembler and the code; both outlive the cursor.
  class Cursor {
   public:
    Cursor(const Disassembler& dis, uint64_t vaddr, std::span<const uint8_t> code)
        : dis_(dis), p_(code.data()), left_(code.size()), addr_(vaddr) {}
    const cs_insn* Next() {
      if (left_ == 0 || !cs_disasm_iter(dis_.handle(), &p_, &left_, &addr_, dis_.insn())) {
        return nullptr;
      }
      return dis_.insn();
    }

   private:
    const Disassembler& dis_;
    const uint8_t* p_;
    size_t left_;
    uint64_t addr_;
  };
  // `code` mapped at `vaddr`, for a successfully opened disassembler.
  Cursor Decode(uint64_t vaddr, std::span<const uint8_t> code) const {
    return Cursor(*this, vaddr, code);
  }

 private:
  bool open_ = false;
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
};

}  // namespace cgotrace
