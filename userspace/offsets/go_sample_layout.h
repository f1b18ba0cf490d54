// What sampling (cgotrace top/profile) needs to know of a Go binary beyond the
// runtime offsets, found by decoding the binary's own machine code:
//  - where it keeps the current goroutine pointer g in thread-local storage;
//  - where runtime.cgocall keeps its frame pointer relative to its stack
//    pointer (for Go releases whose g has no syscallbp).
//
// In Go code g lives in a register (R14 on amd64), but C code clobbers it: a
// sampler that reads a thread from outside must go through TLS, where the
// runtime also keeps g (always, in cgo binaries). The slot is at fs_base + off
// on amd64 (tpidr_el0 + off on arm64), and off depends on how the binary was linked (-8 for most
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

// arm64 keeps g at tpidr_el0 + off too, reached only in runtime.load_g and
// runtime.save_g: mrs x0, tpidr_el0; mov x27, #off (movz/movk, or adrp + ldr
// from the GOT); ldr|str x28, [x0, x27]. In Go code g is in x28.
//
// Error (naming the binary) when no TLS load of g is found, when two loads
// disagree, or on another architecture.
Result<GTlsSlot> FindGTlsSlot(const ElfFile& elf, const GoPclntab& pclntab);

// runtime.cgocall's frame pointer minus its stack pointer in the function's
// body, from its prologue. amd64: push rbp; mov rbp, rsp; sub rsp, N -> N
// (go1.21+); sub rsp, N; ...; lea rbp, [rsp + N-8] -> N-8 (go1.17-go1.20).
// arm64: str x30, [sp, #-N]!; stur x29, [sp, #-8]; sub x29, sp, #8 -> -8 (the
// frame record is below the stack pointer). g.syscallsp is that stack
// pointer while the call runs in C (only needed before go1.23, whose g has no
// syscallbp). `code` is the function's bytes at link-time address `vaddr`.
// Error if the prologue is not one of these.
Result<int32_t> CgocallFramePointerOffset(Arch arch, uint64_t vaddr, std::span<const uint8_t> code);

}  // namespace cgotrace
