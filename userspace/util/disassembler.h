// Disassembler: RAII owner of a capstone handle and of the one instruction
// buffer that cs_disasm_iter decodes into, for the libraries that read
// machine code (binary/ probe sites, offsets/ sampling layout).
//
// Header-only: it adds no link dependency to cgotrace_util; a library that
// includes it links capstone itself. Destruction frees the buffer and closes
// the handle. Not thread-safe (capstone handles are per thread).
#pragma once

#include <capstone/capstone.h>

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

 private:
  bool open_ = false;
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
};

}  // namespace cgotrace
