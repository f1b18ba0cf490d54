/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-architecture register access for uprobes on Go functions.
 *
 * Go's register ABI (Go >= 1.17 on amd64, >= 1.18 on arm64) keeps the current
 * goroutine pointer g in a fixed register at every Go function entry:
 * R14 on amd64, R28 on arm64 (cmd/compile/abi-internal.md). Arguments arrive
 * in RAX, RBX (amd64) / R0, R1 (arm64).
 *
 * The UAPI <asm/ptrace.h> layouts are used instead of a vmlinux.h so that the
 * build does not depend on the build host's kernel.
 */
#ifndef CGOTRACE_BPF_ARCH_H
#define CGOTRACE_BPF_ARCH_H

#include <asm/ptrace.h>

#if defined(__TARGET_ARCH_x86)
typedef struct pt_regs cgt_regs;
#define CGT_REG_G(r) ((r)->r14)
#define CGT_REG_SP(r) ((r)->rsp)
#define CGT_REG_IP(r) ((r)->rip)
#define CGT_REG_FP(r) ((r)->rbp)
#define CGT_REG_ARG0(r) ((r)->rax)
#define CGT_REG_ARG1(r) ((r)->rbx)
#elif defined(__TARGET_ARCH_arm64)
typedef struct user_pt_regs cgt_regs;
#define CGT_REG_G(r) ((r)->regs[28])
#define CGT_REG_SP(r) ((r)->sp)
#define CGT_REG_IP(r) ((r)->pc)
#define CGT_REG_FP(r) ((r)->regs[29])
#define CGT_REG_ARG0(r) ((r)->regs[0])
#define CGT_REG_ARG1(r) ((r)->regs[1])
/* At a function's first instruction the return address is in the link
 * register (on amd64 it is at [SP]: CGT_SRC_SP_WORD 0). */
#define CGT_REG_LR(r) ((r)->regs[30])
#else
#error "cgotrace BPF: define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif

#endif /* CGOTRACE_BPF_ARCH_H */
