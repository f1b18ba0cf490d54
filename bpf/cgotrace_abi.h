/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between cgotrace's BPF programs (bpf/) and userspace.
 *
 * Compiled both by clang -target bpf and by g++: only fixed-width C types, no
 * pointers, explicit padding. Sizes are static_assert'ed in a unit test, and
 * any change here is a change on both sides.
 */
#ifndef CGOTRACE_BPF_ABI_H
#define CGOTRACE_BPF_ABI_H

/* C, not C++: this header is also compiled by clang -target bpf. */
/* NOLINTBEGIN(modernize-use-using) */
#ifdef __bpf__
#include <linux/types.h>
typedef __u8 cgt_u8;
typedef __u16 cgt_u16;
typedef __u32 cgt_u32;
typedef __u64 cgt_u64;
#else
#include <stdint.h>
typedef uint8_t cgt_u8;
typedef uint16_t cgt_u16;
typedef uint32_t cgt_u32;
typedef uint64_t cgt_u64;
#endif
/* NOLINTEND(modernize-use-using) */

/* How many distinct traced binaries (Go builds) one tracer handles at once. */
#define CGT_MAX_BINARIES 64
/* Calls in flight at once (all threads of all targets); LRU beyond that. */
#define CGT_MAX_INFLIGHT 16384

/*
 * Which probe fired. Userspace attaches each program at its sites and sets
 * the uprobe's BPF cookie to CGT_COOKIE(site_vaddr, binary_index, site): the
 * site's link-time address lets BPF compute the process's load bias
 * (instruction pointer - link-time address), so every address in an event
 * is link-time and needs no /proc/PID/maps lookup, which would be racy for
 * processes that exit before their events are read.
 */
enum cgt_site {
	CGT_SITE_CALL_ENTRY = 0, /* runtime.cgocall first instruction */
	CGT_SITE_CALL_RET = 1,	 /* each RET of runtime.cgocall */
	CGT_SITE_CB_ENTRY = 2,	 /* runtime.cgocallbackg first instruction */
	CGT_SITE_CB_RET = 3,	 /* each RET of runtime.cgocallbackg */
};

#define CGT_COOKIE(vaddr, binary, site)                                                            \
	(((cgt_u64)(vaddr) << 16) | ((cgt_u64)(binary) << 8) | (cgt_u64)(site))
#define CGT_COOKIE_VADDR(cookie) ((cookie) >> 16)
#define CGT_COOKIE_BINARY(cookie) ((cgt_u32)(((cookie) >> 8) & 0xff))
#define CGT_COOKIE_SITE(cookie) ((cgt_u32)((cookie)&0xff))
/* Link-time addresses must fit the cookie's 48 bits. */
#define CGT_MAX_VADDR ((1ULL << 48) - 1)

/*
 * Per-binary runtime layout, index = binary index. Offsets come from the
 * binary's DWARF or cgotrace's version table (see go_offsets.h); a zero
 * `valid` makes the programs ignore hits for that binary.
 */
struct cgt_binary_config {
	cgt_u32 valid;
	cgt_u32 g_goid;	    /* offsetof(runtime.g, goid) */
	cgt_u32 g_stack_hi; /* offsetof(runtime.g, stack.hi) */
	cgt_u32 flags;	    /* CGT_CFG_* */
};

/* Read the return address at runtime.cgocall entry: only needed to name calls
 * in binaries whose C trampolines have no .symtab entry (stripped), and a
 * user-memory read costs ~150 ns per call. */
#define CGT_CFG_CALLER_PC 1u

enum cgt_event_kind {
	CGT_EV_CALL = 1,     /* a runtime.cgocall completed */
	CGT_EV_CALLBACK = 2, /* a runtime.cgocallbackg completed */
};

/*
 * One completed call, as written to the ring buffer. 72 bytes.
 * For CGT_EV_CALL, `fn` is runtime.cgocall's fn argument: the address of the
 * C trampoline _cgo_<hash>_Cfunc_<name>; `caller_pc` is the return address
 * into the Go caller (main._Cfunc_<name>), which names the call when the
 * binary is stripped. For CGT_EV_CALLBACK, `fn` is cgocallbackg's fn
 * argument (the _cgoexp_<hash>_<Name> Go function) and `caller_pc` is 0.
 * `fn` and `caller_pc` are link-time addresses (load_bias removed); stack
 * map entries are runtime addresses: subtract load_bias.
 */
struct cgt_event {
	cgt_u64 start_ns; /* bpf_ktime_get_ns() at entry: CLOCK_MONOTONIC */
	cgt_u64 duration_ns;
	cgt_u64 goid;
	cgt_u64 fn;
	cgt_u64 caller_pc;
	cgt_u64 load_bias; /* runtime - link-time address (0 unless PIE) */
	cgt_u32 pid;	   /* tgid, in the tracer's PID namespace when configured */
	cgt_u32 tid;
	cgt_u32 stack_depth; /* g.stack.hi - SP at entry, bytes */
	cgt_u32 binary;	     /* binary index (from the cookie) */
	cgt_u16 kind;	     /* enum cgt_event_kind */
	cgt_u16 pad0;
	cgt_u32 stack_id; /* id in the `stacks` map, or CGT_NO_STACK */
};

/* Frames kept per call stack, and distinct stacks kept per run. */
#define CGT_STACK_DEPTH 64
#define CGT_MAX_STACKS 16384
#define CGT_NO_STACK 0xffffffffu

/* Key of the in-flight map. Stable across goroutine stack moves: a call is
 * identified by (process, goroutine, depth from stack top), and the depth of a
 * frame does not change when the runtime copies the stack. */
struct cgt_inflight_key {
	cgt_u32 pid;
	cgt_u32 depth;
	cgt_u64 goid;
	cgt_u32 site_kind; /* CGT_EV_CALL or CGT_EV_CALLBACK */
	cgt_u32 pad;
};

struct cgt_inflight {
	cgt_u64 start_ns;
	cgt_u64 fn;
	cgt_u64 caller_pc;
	cgt_u64 load_bias;
	cgt_u32 stack_id;
	cgt_u32 pad;
};

/* `in_cgo` array map, index = binary index: how many calls of that binary
 * are inside runtime.cgocall right now (entry seen, return not yet). Each
 * call runs on one OS thread, so this is the number of threads in C. */

/* Counters in the per-CPU `stats` array map; userspace sums CPUs. */
enum cgt_stat {
	CGT_STAT_EVENTS = 0,	   /* events written to the ring buffer */
	CGT_STAT_LOST_RINGBUF = 1, /* ring buffer full: event dropped */
	CGT_STAT_NO_ENTRY = 2,	   /* a return without a recorded entry */
	CGT_STAT_READ_FAIL = 3,	   /* reading g from user memory failed */
	CGT_STAT_ENTRIES = 4,	   /* entry probe hits */
	CGT_STAT_STACK_FAIL = 5,   /* call stack not captured (map full, hash collision) */
	CGT_STAT_MAX = 6,
};

#endif /* CGOTRACE_BPF_ABI_H */
