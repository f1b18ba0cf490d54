/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI between cgotrace's BPF programs (bpf/) and userspace.
 *
 * Compiled both by clang -target bpf and by g++: only fixed-width C types, no
 * pointers, explicit padding. Every struct's size and the offsets userspace
 * relies on are checked below with static assertions, so a change that
 * breaks one side fails the build of both.
 */
#ifndef CGOTRACE_BPF_ABI_H
#define CGOTRACE_BPF_ABI_H

/* C, not C++: this header is also compiled by clang -target bpf. */
/* NOLINTBEGIN(modernize-use-using,modernize-macro-to-enum) */
#ifdef __bpf__
#include <linux/types.h>
typedef __u8 cgt_u8;
typedef __u16 cgt_u16;
typedef __u32 cgt_u32;
typedef __s32 cgt_s32;
typedef __u64 cgt_u64;
#else
#include <stdint.h>
typedef uint8_t cgt_u8;
typedef uint16_t cgt_u16;
typedef uint32_t cgt_u32;
typedef int32_t cgt_s32;
typedef uint64_t cgt_u64;
#endif

/* C11 spells it _Static_assert, C++ static_assert; both compilers see every
 * check below. */
#ifdef __cplusplus
#define CGT_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define CGT_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#define CGT_OFFSETOF(type, field) __builtin_offsetof(type, field)

/* How many distinct traced binaries (Go builds) one tracer handles at once. */
#define CGT_MAX_BINARIES 64
/* Calls in flight at once (all threads of all targets); LRU beyond that. */
#define CGT_MAX_INFLIGHT 16384

/*
 * The prefix of runtime.g that the programs read in one user-memory copy.
 * Every runtime.g offset userspace hands to BPF (cgt_binary_config) must be a
 * multiple of 8 below CGT_G_PREFIX_BYTES; userspace refuses a binary whose
 * offsets are not (goid is at 152 or 160 in go1.17-go1.26).
 */
#define CGT_G_PREFIX_WORDS 24
#define CGT_G_PREFIX_BYTES (CGT_G_PREFIX_WORDS * 8)

/*
 * Probe sites. Every site of every traced binary runs one program,
 * `cgt_site`; what it does there is data: the site descriptor in the
 * `sites` array map at CGT_SITE_KEY(binary, slot). Userspace fills the
 * descriptors from its site table (userspace/binary/site_plan.h), one slot
 * per table row, before attaching.
 *
 * The uprobe's BPF cookie is CGT_COOKIE(site_vaddr, binary, slot):
 *
 *   63                    16 15       8 7        0
 *   | site link-time vaddr  | binary   | slot     |
 *
 * The site's link-time address lets BPF compute the process's load bias as
 * (instruction pointer - link-time address): every address in an event is
 * link-time, with no /proc/PID/maps lookup, which would be racy for processes
 * that exit before their events are read.
 */
#define CGT_MAX_SITE_SLOTS 16
#define CGT_SITE_KEY(binary, slot) ((cgt_u32)(binary)*CGT_MAX_SITE_SLOTS + (cgt_u32)(slot))
#define CGT_MAX_SITES (CGT_MAX_BINARIES * CGT_MAX_SITE_SLOTS)

#define CGT_COOKIE(vaddr, binary, slot)                                                            \
	(((cgt_u64)(vaddr) << 16) | ((cgt_u64)(binary) << 8) | (cgt_u64)(slot))
#define CGT_COOKIE_VADDR(cookie) ((cookie) >> 16)
#define CGT_COOKIE_BINARY(cookie) ((cgt_u32)(((cookie) >> 8) & 0xff))
#define CGT_COOKIE_SLOT(cookie) ((cgt_u32)((cookie)&0xff))
/* Link-time addresses must fit the cookie's 48 bits. */
#define CGT_MAX_VADDR ((1ULL << 48) - 1)

/* What a site does when it fires. */
enum cgt_site_event {
	CGT_SE_NONE = 0,       /* unused slot: hits are ignored */
	CGT_SE_CALL_START = 1, /* a cgo call begins: record it in flight */
	CGT_SE_CALL_END = 2,   /* a cgo call ends: emit its event */
	CGT_SE_CB_START = 3,   /* a C->Go callback begins */
	CGT_SE_CB_END = 4,     /* a C->Go callback ends */
	/* --breakdown: C returned (the call's event waits for CGT_SE_CALL_END,
	 * after runtime.exitsyscall returns). */
	CGT_SE_C_END = 5,
	/* --breakdown: exitsyscall's slow path (CALL runtime.mcall), where the
	 * goroutine may resume on another thread: a cgo call's frame moves from
	 * the thread's task storage into `inflight`. Plain syscalls share the
	 * site and are ignored. */
	CGT_SE_CALL_OFF_THREAD = 6,
	CGT_SE_MAX = 7,
};

/* Where a value is read at a site. */
enum cgt_value_source {
	CGT_SRC_NONE = 0,
	CGT_SRC_ARG0 = 1,    /* first integer argument register (Go register ABI) */
	CGT_SRC_SP_WORD = 2, /* the 8 bytes at SP + the descriptor's offset */
	CGT_SRC_LR = 3,	     /* the link register (arm64 return address) */
};

/* Where g (the current goroutine) is at a site. */
enum cgt_g_source {
	CGT_G_REGISTER = 0, /* R14 (amd64) / R28 (arm64): Go code, register ABI */
};

/*
 * One site's descriptor, index CGT_SITE_KEY(binary, slot) in `sites`.
 * The in-flight key of a call is g.stack.hi - (SP + sp_to_entry): the depth
 * of the probed function's frame as seen at its first instruction, so a start
 * site and an end site at different points of one function (entry and RET,
 * or two CALLs inside the frame) find the same in-flight entry.
 */
struct cgt_site_desc {
	cgt_u8 event;	     /* enum cgt_site_event */
	cgt_u8 g_from;	     /* enum cgt_g_source */
	cgt_u8 fn_from;	     /* enum cgt_value_source: the call's fn argument */
	cgt_u8 pc_from;	     /* enum cgt_value_source: the Go caller's PC; NONE = not read */
	cgt_s32 sp_to_entry; /* SP at the function's entry - SP here, bytes */
	cgt_u16 fn_sp_off;   /* CGT_SRC_SP_WORD offset for fn */
	cgt_u16 pc_sp_off;   /* CGT_SRC_SP_WORD offset for the caller PC */
	cgt_u32 flags;	     /* CGT_SITE_F_* */
};

/*
 * The event's start and end sites run on one thread (the CALLs around the C
 * call, where the goroutine is locked to its M): in-flight state lives in the
 * thread's task storage (`task_state`), pushed at the start and popped at the
 * end without a hash-map operation or a user-memory read at the end, and
 * freed by the kernel when the thread exits, so a killed process leaves
 * nothing behind. Without the flag (entry / RET sites, where exitsyscall may
 * move the goroutine to another thread) the `inflight` hash keyed by
 * goroutine is used.
 */
#define CGT_SITE_F_TASK 1u
/* A call end site in the straight-line block right after CALL
 * runtime.asmcgocall (checked by the planner): the call's duration is its
 * time in C, reported as c_ns too. */
#define CGT_SITE_F_C_END 2u
/* --breakdown's call end, after runtime.exitsyscall returns: the goroutine
 * may have moved to another thread (CGT_SE_CALL_OFF_THREAD), so a frame not
 * found in this thread's task storage is looked up in `inflight`. */
#define CGT_SITE_F_MAY_MOVE 4u

/* In-flight frames per thread: nesting depth of cgo calls and callbacks on
 * one thread (C -> Go -> C ...). Deeper nesting overwrites the oldest frame
 * (counted as CGT_STAT_INFLIGHT_OVERFLOW). Power of two. */
#define CGT_TASK_FRAMES 8

struct cgt_task_frame {
	cgt_u64 start_ns;
	cgt_u64 fn;
	cgt_u64 caller_pc;
	cgt_u64 load_bias;
	cgt_u64 g; /* g register at the start: the end must see the same goroutine */
	cgt_u64 goid;
	cgt_u32 depth;
	cgt_u32 stack_id;
	cgt_u16 kind; /* enum cgt_event_kind */
	/* goid was read at the start: only such frames become events (the
	 * exporter turns events on while a profile window is open, and a call
	 * that began before has no goid). */
	cgt_u16 has_goid;
	cgt_u32 binary;	  /* binary index: whose in_cgo a dropped frame leaves */
	cgt_u64 c_end_ns; /* --breakdown: when C returned (CGT_SE_C_END); 0 before */
};

struct cgt_task_state {
	cgt_u32 top; /* frames pushed and not popped; frames[(top - 1) % N] is the newest */
	cgt_u32 pad;
	struct cgt_task_frame frames[CGT_TASK_FRAMES];
};

/*
 * Per-binary runtime layout, index = binary index. Offsets come from the
 * binary's DWARF or cgotrace's version table (see go_offsets.h); a zero
 * `valid` makes the programs ignore hits for that binary.
 */
struct cgt_binary_config {
	cgt_u32 valid;
	cgt_u32 g_goid;	    /* offsetof(runtime.g, goid), < CGT_G_PREFIX_BYTES */
	cgt_u32 g_stack_hi; /* offsetof(runtime.g, stack.hi), < CGT_G_PREFIX_BYTES */
	cgt_u32 flags;	    /* reserved, 0 */
};

enum cgt_event_kind {
	CGT_EV_CALL = 1,     /* a runtime.cgocall completed */
	CGT_EV_CALLBACK = 2, /* a runtime.cgocallbackg completed */
};

/*
 * One completed call, as written to the ring buffer. 88 bytes.
 * For CGT_EV_CALL, `fn` is runtime.cgocall's fn argument: the address of the
 * C trampoline _cgo_<hash>_Cfunc_<name>; `caller_pc` is the return address
 * into the Go caller (main._Cfunc_<name>), read only where the site
 * descriptor asks for it (stripped binaries, where it names the call), else 0.
 * For CGT_EV_CALLBACK, `fn` is cgocallbackg's fn argument (the
 * _cgoexp_<hash>_<Name> Go function) and `caller_pc` is 0.
 * `fn` and `caller_pc` are link-time addresses (load_bias removed); stack
 * map entries are runtime addresses: subtract load_bias.
 */
struct cgt_event {
	cgt_u64 start_ns; /* bpf_ktime_get_ns() at the start site: CLOCK_MONOTONIC */
	cgt_u64 duration_ns;
	cgt_u64 goid;
	cgt_u64 fn;
	cgt_u64 caller_pc;
	cgt_u64 load_bias;   /* runtime - link-time address (0 unless PIE) */
	cgt_u32 pid;	     /* tgid, in the tracer's PID namespace when configured */
	cgt_u32 tid;	     /* thread at the end site */
	cgt_u32 stack_depth; /* g.stack.hi - SP at the probed function's entry, bytes */
	cgt_u32 binary;	     /* binary index (from the cookie) */
	cgt_u16 kind;	     /* enum cgt_event_kind */
	cgt_u16 pad0;
	cgt_u32 stack_id; /* id in the `stacks` map, or CGT_NO_STACK */
	/* Time in C: CALL runtime.asmcgocall to the block after it returns;
	 * 0 = not measured (callbacks, entry / RET sites). */
	cgt_u64 c_ns;
	/* --breakdown: time in runtime.exitsyscall, re-entering Go (waiting for
	 * a P included); duration_ns = c_ns + sched_ns. 0 = not measured. */
	cgt_u64 sched_ns;
};

/* Bytes one cgt_event takes in the ring buffer: the record and the ring's
 * 8-byte header, rounded up to 8. */
#define CGT_EVENT_RING_BYTES (sizeof(struct cgt_event) + 8)

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

/* Key of a --breakdown frame moved off its thread (CGT_SE_CALL_OFF_THREAD):
 * `goid` holds the g pointer (the goroutine's runtime.g, which does not move
 * while it lives), `depth` 0, `site_kind` CGT_EV_CALL. No entry of the entry /
 * RET sites has depth 0 (a frame is below its stack top), so the two never
 * meet; a goroutine has at most one call in runtime.exitsyscall at a time,
 * so the g names it. The end finds it from the g register alone, with no
 * user-memory read. */
#define CGT_MOVED_DEPTH 0

struct cgt_inflight {
	cgt_u64 start_ns;
	cgt_u64 fn;
	cgt_u64 caller_pc;
	cgt_u64 load_bias;
	cgt_u32 stack_id;
	cgt_u32 binary;	  /* binary index: whose in_cgo a swept entry leaves */
	cgt_u64 c_end_ns; /* see cgt_task_frame */
	/* Moved frames (CGT_MOVED_DEPTH): the frame's goid (has_goid: read at
	 * the start, see cgt_task_frame) and stack depth, for its event and the
	 * exporter's depth row. Unused (0) in entries of the entry / RET sites,
	 * whose key holds both. */
	cgt_u64 goid;
	cgt_u32 depth;
	cgt_u32 has_goid;
};

/*
 * In-kernel aggregation (`stat` without per-call output): the end site adds
 * the call to `aggregates`, a hash map keyed by (binary, kind, fn,
 * caller_pc) with a count, sum, min, max and a log-linear latency histogram,
 * instead of writing an event. Userspace names the key exactly as it names
 * an event (fn, or caller_pc where the site reads it) and folds rows of one
 * name together.
 *
 * Which outputs the end site produces is the `outputs` rodata (CGT_OUT_*).
 */
#define CGT_OUT_EVENTS 1u    /* a cgt_event per call in the ring buffer */
#define CGT_OUT_AGGREGATE 2u /* a count in `aggregates` per call */
#define CGT_OUT_EXPORT 4u    /* a count in `export_rows` per call (exporter) */

/* Distinct keys in `aggregates`; a call of a key beyond that is counted as
 * CGT_STAT_AGG_FULL, never silently dropped. */
#define CGT_MAX_AGG_KEYS 4096

/*
 * Log-linear histogram buckets, the one definition for BPF and userspace
 * (stats/histogram.h uses these functions). Values below
 * CGT_HIST_SUB_BUCKETS are exact; above, each power of two [2^m, 2^(m+1))
 * is split into CGT_HIST_SUB_BUCKETS equal buckets, so a bucket is never
 * wider than 1/CGT_HIST_SUB_BUCKETS of its lower bound. Bucket index:
 *
 *   octave 0: index = value                       (value < 2^SUB_BITS)
 *   octave o: index = o * 2^SUB_BITS + sub, o = msb - SUB_BITS + 1,
 *             sub = the SUB_BITS bits below the msb
 *
 * The kernel map holds the buckets of values below 2^CGT_HIST_MAX_BITS
 * (18 minutes in ns); larger values are counted in the last bucket
 * (cgt_hist_bucket_bounded), their exact maximum in `max`.
 */
#define CGT_HIST_SUB_BITS 6
#define CGT_HIST_SUB_BUCKETS (1u << CGT_HIST_SUB_BITS)
#define CGT_HIST_MAX_BITS 40
#define CGT_HIST_BUCKETS ((CGT_HIST_MAX_BITS - CGT_HIST_SUB_BITS + 1) * CGT_HIST_SUB_BUCKETS)

/* Index of the highest set bit of v > 0 (a branchy binary search: BPF has
 * no count-leading-zeros instruction). */
static inline cgt_u32 cgt_msb64(cgt_u64 v)
{
	cgt_u32 n = 0;

	if (v >> 32) {
		v >>= 32;
		n += 32;
	}
	if (v >> 16) {
		v >>= 16;
		n += 16;
	}
	if (v >> 8) {
		v >>= 8;
		n += 8;
	}
	if (v >> 4) {
		v >>= 4;
		n += 4;
	}
	if (v >> 2) {
		v >>= 2;
		n += 2;
	}
	if (v >> 1)
		n += 1;
	return n;
}

/* Bucket of any value: an index below (65 - CGT_HIST_SUB_BITS) << SUB_BITS. */
static inline cgt_u64 cgt_hist_bucket(cgt_u64 v)
{
	cgt_u32 shift;

	if (v < CGT_HIST_SUB_BUCKETS)
		return v;
	shift = cgt_msb64(v) - CGT_HIST_SUB_BITS;
	return ((cgt_u64)(shift + 1) << CGT_HIST_SUB_BITS) |
	       ((v >> shift) & (CGT_HIST_SUB_BUCKETS - 1));
}

/* Bucket in the kernel map: values of 2^CGT_HIST_MAX_BITS and more share the
 * last bucket. Always below CGT_HIST_BUCKETS. */
static inline cgt_u32 cgt_hist_bucket_bounded(cgt_u64 v)
{
	if (v >> CGT_HIST_MAX_BITS)
		return CGT_HIST_BUCKETS - 1;
	return (cgt_u32)cgt_hist_bucket(v);
}

/* Smallest value of bucket `index` (any index cgt_hist_bucket returns). */
static inline cgt_u64 cgt_hist_lower(cgt_u64 index)
{
	cgt_u64 octave = index >> CGT_HIST_SUB_BITS;
	cgt_u64 sub = index & (CGT_HIST_SUB_BUCKETS - 1);

	if (octave == 0)
		return sub;
	return (CGT_HIST_SUB_BUCKETS + sub) << (octave - 1);
}

/* Largest value of bucket `index`; written as lower + (width - 1) so the last
 * bucket ends at 2^64 - 1 without overflowing. */
static inline cgt_u64 cgt_hist_upper(cgt_u64 index)
{
	cgt_u64 octave = index >> CGT_HIST_SUB_BITS;

	if (octave == 0)
		return cgt_hist_lower(index);
	return cgt_hist_lower(index) + ((1ULL << (octave - 1)) - 1);
}

struct cgt_agg_key {
	cgt_u32 binary;	   /* binary index */
	cgt_u32 kind;	   /* enum cgt_event_kind */
	cgt_u64 fn;	   /* as cgt_event.fn (link-time) */
	cgt_u64 caller_pc; /* as cgt_event.caller_pc (0 unless the site reads it) */
};

/* Durations in ns. min_ns starts at ~0 (set when the key is created).
 * The split (--breakdown: c_ns and sched_ns of cgt_event) is summed over the
 * calls where it was measured, `split_count` of them: calls that ended after
 * runtime.exitsyscall returned, each with both parts (never 0). */
struct cgt_agg_value {
	cgt_u64 count;
	cgt_u64 sum_ns; /* wraps after 584 years of summed calls */
	cgt_u64 min_ns;
	cgt_u64 max_ns;
	cgt_u64 split_count;
	cgt_u64 c_sum_ns;     /* time in C */
	cgt_u64 sched_sum_ns; /* time re-entering Go */
	cgt_u64 sched_max_ns;
	cgt_u64 buckets[CGT_HIST_BUCKETS]; /* cgt_hist_bucket_bounded(duration) */
};

/*
 * In-kernel aggregation for the exporter (CGT_OUT_EXPORT): the end site adds
 * each call to `export_rows`, keyed like `aggregates` (cgt_agg_key), with
 * the Prometheus histogram the exporter publishes, not a log-linear one: the
 * kernel's bucket edges *are* the published `le` bounds, so the exposition
 * is the map's counts summed cumulatively, exact by construction. Bucket k
 * (k < bounds) holds values base * 2^(k-1) < v <= base * 2^k (bucket 0: v <=
 * base), bucket `bounds` the rest (+Inf): Prometheus' inclusive upper bound.
 * Key kinds: CGT_EV_CALL and CGT_EV_CALLBACK rows per (fn, caller_pc). The
 * goroutine stack depth at each call is a cgt_pow2_hist per binary in the
 * array map `export_depth` (index = binary index): an inlined array lookup,
 * not a second hash lookup per call.
 */
/* Distinct keys of `export_rows` (up to 64 binaries x the exporter's 200
 * functions); beyond, counted as CGT_STAT_AGG_FULL. */
#define CGT_MAX_EXPORT_KEYS 16384
/* Call durations: bounds 100 ns * 2^k, k = 0..27 (0.1 us to 13.4 s). */
#define CGT_XP_DURATION_BASE 100
#define CGT_XP_DURATION_BOUNDS 28
/* Goroutine stack depth: 128 B * 2^k, k = 0..23 (up to Go's 1 GiB). */
#define CGT_XP_STACK_BASE 128
#define CGT_XP_STACK_BOUNDS 24
/* Counts per row: the bounds of either histogram and +Inf. */
#define CGT_XP_BUCKETS 32

/* Index of the smallest bound base * 2^k >= v, or `bounds` (+Inf). Bounds
 * are multiples of base, so v <= base * 2^k exactly when ceil(v / base) <=
 * 2^k; ceil(v / base) - 1 = (v - 1) / base for v >= 1. Integer arithmetic
 * only: a value on a bound is in that bound's bucket. */
static inline cgt_u32 cgt_pow2_bucket(cgt_u64 v, cgt_u64 base, cgt_u32 bounds)
{
	cgt_u32 k;

	if (v <= base)
		return 0;
	k = cgt_msb64((v - 1) / base) + 1;
	return k < bounds ? k : bounds;
}

struct cgt_pow2_hist {
	cgt_u64 count;
	cgt_u64 sum;			 /* ns or bytes; wraps after 584 years of summed calls */
	cgt_u64 buckets[CGT_XP_BUCKETS]; /* cgt_pow2_bucket(v, base, bounds) */
};

/* A row of `export_rows`: the calls' durations and, for calls that ended
 * after runtime.exitsyscall returned (--breakdown), their time re-entering
 * Go (cgt_event.sched_ns) in the same buckets: the exporter's
 * cgotrace_cgo_reentry_wait_seconds. `reentry` stays empty otherwise. */
struct cgt_export_value {
	struct cgt_pow2_hist duration;
	struct cgt_pow2_hist reentry;
};

/* `in_cgo` array map, index = binary index: how many calls of that binary
 * are inside runtime.cgocall right now (start seen, end not yet). Each
 * call runs on one OS thread, so this is the number of threads in C. */

/* Counters in the per-CPU `stats` array map; userspace sums CPUs. */
enum cgt_stat {
	CGT_STAT_EVENTS = 0,		/* events written to the ring buffer */
	CGT_STAT_LOST_RINGBUF = 1,	/* ring buffer full: event dropped */
	CGT_STAT_NO_ENTRY = 2,		/* an end without a recorded start */
	CGT_STAT_READ_FAIL = 3,		/* reading g from user memory failed */
	CGT_STAT_ENTRIES = 4,		/* start site hits */
	CGT_STAT_STACK_FAIL = 5,	/* call stack not captured (map full, hash collision) */
	CGT_STAT_INFLIGHT_OVERFLOW = 6, /* in-flight frame overwritten: nested too deep */
	CGT_STAT_AGGREGATED = 7,	/* calls and callbacks added to `aggregates` */
	CGT_STAT_AGG_FULL = 8,		/* `aggregates` full: a call of a new key not counted */
	/* Calls whose end will never run, by cause (each leaves in_cgo when
	 * found): their thread exited in C (SIGKILL, exit with calls in C); a
	 * Go panic unwound through C and was recovered above them; their frame
	 * was overwritten (CGT_STAT_INFLIGHT_OVERFLOW). Callbacks: any cause. */
	CGT_STAT_UNRETURNED_EXIT = 9,
	CGT_STAT_UNRETURNED_PANIC = 10,
	CGT_STAT_UNRETURNED_EVICTED = 11,
	CGT_STAT_CB_UNRETURNED = 12,
	CGT_STAT_MAX = 13,
};
/* NOLINTEND(modernize-use-using,modernize-macro-to-enum) */

/* The layout both compilers must agree on. */
CGT_STATIC_ASSERT(sizeof(struct cgt_event) == 88, "cgt_event: update BPF, decoder and docs");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_event, load_bias) == 40, "cgt_event.load_bias");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_event, pid) == 48, "cgt_event.pid");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_event, kind) == 64, "cgt_event.kind");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_event, stack_id) == 68, "cgt_event.stack_id");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_event, sched_ns) == 80, "cgt_event.sched_ns");
CGT_STATIC_ASSERT(sizeof(struct cgt_site_desc) == 16, "cgt_site_desc");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_site_desc, sp_to_entry) == 4, "cgt_site_desc.sp");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_site_desc, flags) == 12, "cgt_site_desc.flags");
CGT_STATIC_ASSERT(sizeof(struct cgt_binary_config) == 16, "cgt_binary_config");
CGT_STATIC_ASSERT(sizeof(struct cgt_task_frame) == 72, "cgt_task_frame");
CGT_STATIC_ASSERT((CGT_TASK_FRAMES & (CGT_TASK_FRAMES - 1)) == 0, "CGT_TASK_FRAMES: power of 2");
CGT_STATIC_ASSERT(sizeof(struct cgt_inflight_key) == 24, "cgt_inflight_key");
CGT_STATIC_ASSERT(sizeof(struct cgt_inflight) == 64, "cgt_inflight");
CGT_STATIC_ASSERT(sizeof(struct cgt_agg_key) == 24, "cgt_agg_key");
CGT_STATIC_ASSERT(sizeof(struct cgt_agg_value) == 64 + 8 * CGT_HIST_BUCKETS, "cgt_agg_value");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_agg_value, buckets) == 64, "cgt_agg_value.buckets");
CGT_STATIC_ASSERT(sizeof(struct cgt_pow2_hist) == 16 + 8 * CGT_XP_BUCKETS, "cgt_pow2_hist");
CGT_STATIC_ASSERT(sizeof(struct cgt_export_value) == 2 * sizeof(struct cgt_pow2_hist),
		  "cgt_export_value: update docs/performance.md (memory)");
CGT_STATIC_ASSERT(CGT_XP_DURATION_BOUNDS < CGT_XP_BUCKETS && CGT_XP_STACK_BOUNDS < CGT_XP_BUCKETS,
		  "cgt_pow2_hist: a bucket per bound and +Inf");
CGT_STATIC_ASSERT(CGT_OFFSETOF(struct cgt_task_frame, has_goid) == 58, "cgt_task_frame.has_goid");
CGT_STATIC_ASSERT(CGT_HIST_BUCKETS == 2240, "cgt_agg_value: update docs/performance.md (memory)");
/* The cookie holds the binary index and slot in 8 bits each. */
CGT_STATIC_ASSERT(CGT_MAX_BINARIES <= 256, "binary index must fit the cookie");
CGT_STATIC_ASSERT(CGT_MAX_SITE_SLOTS <= 256, "site slot must fit the cookie");

#endif /* CGOTRACE_BPF_ABI_H */
