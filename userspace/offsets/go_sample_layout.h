// What sampling (cgotrace top/profile) needs to know of a Go binary beyond the
// runtime offsets, found by decoding the binary's own machine code:
//  - where it keeps the current goroutine pointer g in thread-local storage;
//  - where runtime.cgocall keeps its frame pointer relative to its stack
//    pointer (for Go releases whose g has no syscallbp).
//
// In Go code g lives in a register (R14 on amd64), but C code clobbers it: a
// sampler that reads a thread from outside must go through TLS, where the
// runtime also keeps g (always, in cgo binaries). The slot is at fs_base + off
// on amd64, and off depends on how the binary was linked (-8 for most
// binaries; e.g. -0x58 for a static glibc link whose C code has TLS of its
// own). cgotrace never assumes it: it reads it from the instructions the Go
// toolchain emitted to reload g, of which every binary has hundreds:
//   internal linking:            mov r14, qword ptr fs:[-8]
//   external linking (IE -> LE): mov r14, -8 ; mov r14, qword ptr fs:[r14]
//   external linking (IE):       mov r14, [rip+got] ; mov r14, qword ptr fs:[r14]
// Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <span>

#include "cgotrace/result.h"
#include "elf/elf_file.h"
#include "gofile/go_pclntab.h"

namespace cgotrace {

struct GTlsSlot {
  int64_t offset = 0;          // g is at thread pointer + offset
  uint32_t witnesses = 0;      // how many agreeing instructions were seen
  uint64_t example_vaddr = 0;  // one of them, for `inspect` and error messages
};

// Error (naming the binary) when no TLS load of g is found, when two loads
// disagree, or on an architecture this is not implemented for (arm64 keeps g
// at tpidr_el0 + runtime.tls_g, not decoded yet).
Result<GTlsSlot> FindGTlsSlot(const ElfFile& elf, const GoPclntab& pclntab);

// runtime.cgocall's frame pointer minus its stack pointer in the function's
// body, from its prologue (push rbp; mov rbp, rsp; sub rsp, N -> N, go1.21+;
// sub rsp, N; ...; lea rbp, [rsp + N-8] -> N-8, go1.17-go1.20). g.syscallsp
// is that stack pointer while the call runs in C. `code` is the function's
// bytes at link-time address `vaddr`. Error if the prologue is not one of
// these, or on arm64 (not decoded: go1.23+ binaries have g.syscallbp).
Result<uint32_t> CgocallFramePointerOffset(Arch arch, uint64_t vaddr,
                                           std::span<const uint8_t> code);

}  // namespace cgotrace
