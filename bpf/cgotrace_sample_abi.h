/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between the sampling program (bpf/sample.bpf.c) and userspace
 * (userspace/sample/). Same rules as cgotrace_abi.h: fixed-width C types
 * only, explicit padding, sizes checked by _Static_assert here, so clang
 * -target bpf and g++ both check them.
 *
 * One run of the task iterator writes, for every thread of the target
 * process, one struct cgt_sample followed by n_c_frames then n_go_frames
 * u64 addresses (runtime addresses: the sampler sees the process as it is).
 */
#ifndef CGOTRACE_BPF_SAMPLE_ABI_H
#define CGOTRACE_BPF_SAMPLE_ABI_H

#include "cgotrace_abi.h"

/* Frames read per thread: C frames from the thread's saved user registers
 * (frame-pointer chain), Go frames from the goroutine's cgocall frame. */
#define CGT_SAMPLE_C_DEPTH 24
#define CGT_SAMPLE_GO_DEPTH 24
/* Bytes of runtime.m and runtime.g read in one copy each; userspace checks
 * that every configured offset + 8 fits (go1.26: m.ncgocall at 320). */
#define CGT_SAMPLE_M_BYTES 512
#define CGT_SAMPLE_G_BYTES 256

/*
 * Where the runtime keeps what sampling reads, for the one binary the
 * iterator is attached for (set in .rodata before load). Offsets are from
 * go_offsets.h; tls_g from the binary's own TLS loads of g (go_tls.h).
 */
struct cgt_sample_config {
	cgt_u64 tls_g;	    /* g is at thread pointer + tls_g (signed) */
	cgt_u32 g_m;	    /* offsetof(runtime.g, m) */
	cgt_u32 g_goid;	    /* offsetof(runtime.g, goid) */
	cgt_u32 g_stack_hi; /* offsetof(runtime.g, stack.hi) */
	cgt_u32 g_syscallsp;
	cgt_u32 g_syscallpc;
	cgt_u32 g_syscallbp; /* 0: absent (before go1.23): use cgocall_bp */
	cgt_u32 m_g0;	     /* offsetof(runtime.m, g0) */
	cgt_u32 m_curg;	     /* offsetof(runtime.m, curg) */
	cgt_u32 m_incgo;     /* offsetof(runtime.m, incgo), a bool */
	cgt_u32 m_ncgocall;  /* offsetof(runtime.m, ncgocall) */
	cgt_u32 m_procid;    /* offsetof(runtime.m, procid): the thread id */
	cgt_s32 cgocall_bp;  /* cgocall's frame pointer - g.syscallsp (-8 on arm64) */
	/* Inode of the reader's PID namespace (/proc/self/ns/pid): pid and tid
	 * are reported as that namespace numbers them. 0: as the kernel's
	 * initial namespace does. */
	cgt_u64 pidns_ino;
};

/* struct cgt_sample.flags */
#define CGT_SAMPLE_GO 1u	/* the thread has a g (a Go-runtime thread) */
#define CGT_SAMPLE_IN_C 2u	/* g is g0, m.incgo set, m.curg set: in a cgo call */
#define CGT_SAMPLE_RUNNING 4u	/* TASK_RUNNING: on a CPU or waiting for one */
#define CGT_SAMPLE_READ_FAIL 8u /* some user-memory read failed */
#define CGT_SAMPLE_C_TRUNC 16u	/* the C frame chain went on past CGT_SAMPLE_C_DEPTH */
#define CGT_SAMPLE_ON_CPU 32u	/* task->on_cpu: running on a CPU right now */
/* Same cgo call as this thread's previous sample (same m.ncgocall and curg):
 * goid, syscallsp/pc, stack_hi and the Go frames were not read again and are
 * those of the previous sample (n_go_frames is 0). */
#define CGT_SAMPLE_SAME_CALL 64u
/* Blocked in the same call with the same saved registers as in the previous
 * sample: the C frames were not walked again (n_c_frames is 0). */
#define CGT_SAMPLE_SAME_C 128u
/* The thread has not been scheduled since its previous sample (same context
 * switch count, not runnable): nothing it owns can have changed, and nothing
 * was read; the whole previous sample stands (new time and state). */
#define CGT_SAMPLE_UNCHANGED 256u

/* Threads whose last state the sampler remembers (LRU beyond that); at most,
 * userspace sizes the table to the process (sampler.cpp). */
#define CGT_SAMPLE_MAX_THREADS 32768

/* What the sampler remembers of a thread between samples, so that a thread
 * that has not run since costs no user-memory read, and one still in the same
 * call costs two (g from TLS, then m) instead of a dozen. */
struct cgt_thread_memo {
	cgt_u64 g0; /* the thread's g0 and m: fixed for the life of an M */
	cgt_u64 m;
	cgt_u64 ncgocall; /* the call last seen (0: not in C) */
	cgt_u64 curg;
	cgt_u64 user_ip; /* saved registers when the C frames were walked */
	cgt_u64 user_sp;
	cgt_u64 user_bp;
	cgt_u64 switches; /* nvcsw + nivcsw when last read in full */
	cgt_u64 complete; /* the last sample read everything it needed */
};

/* One thread, as the iterator saw it. 96 bytes, then the frames. */
struct cgt_sample {
	cgt_u32 pid;   /* tgid, in the reader's PID namespace (pidns_ino) */
	cgt_u32 tid;   /* likewise */
	cgt_u32 flags; /* CGT_SAMPLE_* */
	cgt_u16 n_c_frames;
	cgt_u16 n_go_frames;
	cgt_u64 goid;	  /* m.curg.goid when in C; else the current g's goid */
	cgt_u64 ncgocall; /* m.ncgocall: a new call when it changes */
	cgt_u64 syscallsp;
	cgt_u64 syscallpc;
	cgt_u64 stack_hi; /* curg.stack.hi: depth = stack_hi - syscallsp */
	cgt_u64 user_ip;  /* saved user registers of the thread */
	cgt_u64 user_sp;
	cgt_u64 user_bp;
	cgt_u64 procid;	 /* m.procid, which the runtime sets to the tid */
	cgt_u64 time_ns; /* bpf_ktime_get_ns() when read */
};

CGT_STATIC_ASSERT(sizeof(struct cgt_sample) == 96, "cgt_sample layout changed");
CGT_STATIC_ASSERT(sizeof(struct cgt_sample_config) == 64, "cgt_sample_config layout changed");
CGT_STATIC_ASSERT(sizeof(struct cgt_thread_memo) == 72, "cgt_thread_memo layout changed");

#endif /* CGOTRACE_BPF_SAMPLE_ABI_H */
