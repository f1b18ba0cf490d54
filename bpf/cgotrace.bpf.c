// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgotrace kernel side: times every runtime.cgocall and runtime.cgocallbackg.
 *
 * One program, cgt_site, serves every probe site of every traced binary; the
 * uprobe's cookie names the binary (index into `binaries`) and the site's
 * slot, whose descriptor in `sites` says what the site does (cgotrace_abi.h).
 * A start site records (start time, fn, caller) in `inflight`, keyed by
 * process, goroutine and the frame's depth below the goroutine stack top; an
 * end site looks the entry up and emits one event. The depth key is
 * what makes this correct when C calls back into Go, which calls C again
 * (nested calls on one goroutine), and when the goroutine's stack is copied
 * during a callback: the runtime preserves distances from stack.hi.
 * Keying by goroutine instead of thread also covers the exitsyscall slow path,
 * where the goroutine may resume on another M after the C call.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "arch.h"
#include "cgotrace_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Ring buffer wakeups are batched: userspace is woken only once another
 * 1 << wakeup_shift bytes are waiting, and otherwise drains on its poll
 * timeout. A wakeup per event costs the target more than the event itself.
 * A shift, not a byte count: the check runs at every event, and a 64-bit
 * division there cost more than the rest of the check. */
const volatile __u32 wakeup_shift = 16;
/* When set, pid/tid are reported as seen in this PID namespace (the
 * tracer's own), so a containerized tracer reports the PIDs its user sees. */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;
/* Capture the Go call stack of each cgo call site (record --call-stacks). */
const volatile __u32 capture_stacks = 0;
/* What an end site produces: CGT_OUT_EVENTS, CGT_OUT_AGGREGATE, CGT_OUT_EXPORT. */
const volatile __u32 outputs = CGT_OUT_EVENTS;
/* With CGT_OUT_EVENTS: whether events are wanted now. Not rodata: userspace
 * flips it in the mmapped .data while probes stay attached (the exporter
 * wants events only while a /debug/pprof/cgo window is open). A start that
 * saw it off reads no goid, and its call makes no event. */
volatile __u32 events_on = 1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by userspace before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CGT_MAX_BINARIES);
	__type(key, __u32);
	__type(value, struct cgt_binary_config);
} binaries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CGT_MAX_SITES);
	__type(key, __u32);
	__type(value, struct cgt_site_desc);
} sites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CGT_MAX_INFLIGHT);
	__type(key, struct cgt_inflight_key);
	__type(value, struct cgt_inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgt_task_state);
} task_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CGT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CGT_MAX_BINARIES);
	__type(key, __u32);
	__type(value, __s64);
} in_cgo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* a key costs its 18 KiB only once seen */
	__uint(max_entries, CGT_MAX_AGG_KEYS);
	__type(key, struct cgt_agg_key);
	__type(value, struct cgt_agg_value);
} aggregates SEC(".maps");

/* The value a new key of `aggregates` starts from (never written). */
static struct cgt_agg_value agg_initial = {.min_ns = ~0ULL};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, CGT_MAX_EXPORT_KEYS);
	__type(key, struct cgt_agg_key);
	__type(value, struct cgt_export_value);
} export_rows SEC(".maps");

/* The exporter's stack-depth histogram per binary (cgotrace_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CGT_MAX_BINARIES);
	__type(key, __u32);
	__type(value, struct cgt_pow2_hist);
} export_depth SEC(".maps");

/* The value a new key of `export_rows` starts from (never written). */
static struct cgt_export_value export_initial;

/* Deduplicated user stacks. The kernel walks frame pointers, which Go keeps
 * on amd64 and arm64; since Linux 6.12 a uprobe at a function's first
 * instruction also reports the caller from the return address. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, CGT_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, CGT_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* Per CPU, so threads of a target on several CPUs do not bounce one cache
 * line: a start and its end may run on different CPUs, so one CPU's count
 * can be negative; only the sum over CPUs (BpfObject::InCgo) means anything.
 * Still atomic: uprobe programs run with migration, not preemption,
 * disabled, so another hit may run on this CPU in the middle of an update
 * (preempt=full); a locked add of a line no other CPU holds is cheap. */
static __always_inline void in_cgo_add(__u32 binary, __s64 delta)
{
	__s64 *v = bpf_map_lookup_elem(&in_cgo, &binary);

	if (v)
		__sync_fetch_and_add(v, delta);
}

/* Atomic although per CPU: another hit may run on this CPU in the middle of
 * a plain read-modify-write (in_cgo_add), and these counts are exact. */
static __always_inline void stat_add(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);

	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void stat_inc(__u32 which)
{
	stat_add(which, 1);
}

/* Wake the reader once each time another 1 << wakeup_shift bytes have piled
 * up, not on every record above the mark: a reader that drains on its own
 * clock (the exporter sleeps between polls) leaves the ring above the mark
 * for a whole poll interval, and a forced wakeup per record then costs the target an
 * irq_work self-IPI per call (≈ 11 µs per call in this VM: the exporter's
 * "13 µs" of docs/performance.md). Call after reserving the record, whose
 * bytes AVAIL_DATA already includes. */
static __always_inline __u64 submit_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 before = avail > CGT_EVENT_RING_BYTES ? avail - CGT_EVENT_RING_BYTES : 0;

	if (avail >> wakeup_shift != before >> wakeup_shift)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* *v = max(*v, x) against concurrent updates from other CPUs. A bounded
 * retry: each failed exchange means another CPU stored a new value, and
 * after a few the stored maximum only moved closer to x. */
static __always_inline void atomic_max(__u64 *v, __u64 x)
{
	__u64 old = *v;
	int i;

	for (i = 0; i < 8 && x > old; i++) {
		__u64 seen = __sync_val_compare_and_swap(v, old, x);

		if (seen == old)
			break;
		old = seen;
	}
}

static __always_inline void atomic_min(__u64 *v, __u64 x)
{
	__u64 old = *v;
	int i;

	for (i = 0; i < 8 && x < old; i++) {
		__u64 seen = __sync_val_compare_and_swap(v, old, x);

		if (seen == old)
			break;
		old = seen;
	}
}

/* Adds one completed call to `aggregates`, and its split when measured
 * (`sched_ns` not 0: --breakdown). Counts are atomic: every CPU adds into
 * the same value. */
static __always_inline void aggregate(__u32 binary, __u32 kind, __u64 fn, __u64 caller_pc,
				      __u64 duration, __u64 c_ns, __u64 sched_ns)
{
	struct cgt_agg_key key = {.binary = binary, .kind = kind, .fn = fn, .caller_pc = caller_pc};
	struct cgt_agg_value *v = bpf_map_lookup_elem(&aggregates, &key);
	__u32 b;

	if (!v) {
		/* NOEXIST: another CPU may have created the key meanwhile. */
		bpf_map_update_elem(&aggregates, &key, &agg_initial, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&aggregates, &key);
		if (!v) {
			stat_inc(CGT_STAT_AGG_FULL);
			return;
		}
	}
	b = cgt_hist_bucket_bounded(duration);
	if (b >= CGT_HIST_BUCKETS)
		return;
	__sync_fetch_and_add(&v->count, 1);
	__sync_fetch_and_add(&v->sum_ns, duration);
	__sync_fetch_and_add(&v->buckets[b], 1);
	atomic_min(&v->min_ns, duration);
	atomic_max(&v->max_ns, duration);
	if (sched_ns) {
		__sync_fetch_and_add(&v->split_count, 1);
		__sync_fetch_and_add(&v->c_sum_ns, c_ns);
		__sync_fetch_and_add(&v->sched_sum_ns, sched_ns);
		atomic_max(&v->sched_max_ns, sched_ns);
	}
	stat_inc(CGT_STAT_AGGREGATED);
}

/* Adds value `v` to `row`, in the exporter's bucket of bound base * 2^k. */
static __always_inline void export_add(struct cgt_pow2_hist *row, __u64 v, __u64 base, __u32 bounds)
{
	__u32 b = cgt_pow2_bucket(v, base, bounds);

	if (b >= CGT_XP_BUCKETS)
		return;
	__sync_fetch_and_add(&row->count, 1);
	__sync_fetch_and_add(&row->sum, v);
	__sync_fetch_and_add(&row->buckets[b], 1);
}

/* The exporter's rows of one completed call: its duration (and re-entry
 * time, `sched_ns` not 0: --breakdown) by function and, for calls, the
 * goroutine's stack depth by binary. */
static __always_inline void export_call(__u32 binary, __u32 kind, __u64 fn, __u64 caller_pc,
					__u64 duration, __u64 sched_ns, __u32 depth)
{
	struct cgt_agg_key key = {.binary = binary, .kind = kind, .fn = fn, .caller_pc = caller_pc};
	struct cgt_export_value *row = bpf_map_lookup_elem(&export_rows, &key);
	struct cgt_pow2_hist *hist;

	if (!row) {
		/* NOEXIST: another CPU may have created the key meanwhile. */
		bpf_map_update_elem(&export_rows, &key, &export_initial, BPF_NOEXIST);
		row = bpf_map_lookup_elem(&export_rows, &key);
		if (!row) {
			stat_inc(CGT_STAT_AGG_FULL);
			return;
		}
	}
	stat_inc(CGT_STAT_AGGREGATED);
	export_add(&row->duration, duration, CGT_XP_DURATION_BASE, CGT_XP_DURATION_BOUNDS);
	if (sched_ns)
		export_add(&row->reentry, sched_ns, CGT_XP_DURATION_BASE, CGT_XP_DURATION_BOUNDS);
	if (kind != CGT_EV_CALL)
		return;
	hist = bpf_map_lookup_elem(&export_depth, &binary);
	if (hist)
		export_add(hist, depth, CGT_XP_STACK_BASE, CGT_XP_STACK_BOUNDS);
}

/* Whether an end makes an event now. */
static __always_inline int events_wanted(void)
{
	return (outputs & CGT_OUT_EVENTS) && events_on;
}

/* An in-flight call or callback whose end will never run: a call leaves
 * in_cgo (unless `in_c` is 0: with --breakdown its C part ended already) and
 * is counted by `cause` (enum cgt_stat), a callback as an unreturned
 * callback. Never silent: these are shown like lost events. */
static __always_inline void drop_inflight(__u32 kind, __u32 binary, int in_c, __u32 cause)
{
	if (kind == CGT_EV_CALL) {
		if (in_c)
			in_cgo_add(binary, -1);
		stat_inc(cause);
	} else {
		stat_inc(CGT_STAT_CB_UNRETURNED);
	}
}

static __always_inline void current_ids(__u32 *pid, __u32 *tid)
{
	__u64 id;

	if (pidns_ino) {
		struct bpf_pidns_info ns = {};

		if (!bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns))) {
			*pid = ns.tgid;
			*tid = ns.pid;
			return;
		}
	}
	id = bpf_get_current_pid_tgid();
	*pid = id >> 32;
	*tid = (__u32)id;
}

/* The frame at `sp` as a depth below the goroutine's stack top `hi`.
 * Returns 0 on success. */
static __always_inline int stack_depth(__u64 hi, __u64 sp, __u32 *depth)
{
	/* Go stacks are at most 1 GiB (runtime.maxstacksize on 64-bit). */
	if (hi <= sp || hi - sp > (1ULL << 30))
		return -1;
	*depth = (__u32)(hi - sp);
	return 0;
}

/* Reads goid and the probed frame's depth below g.stack.hi. Returns 0 on
 * success. The whole prefix of runtime.g is read at once: each user-memory
 * read costs a fault-safe copy. */
static __always_inline int read_goroutine(const cgt_regs *regs, const struct cgt_binary_config *cfg,
					  const struct cgt_site_desc *site, __u64 *goid,
					  __u32 *depth)
{
	__u64 g = CGT_REG_G(regs);
	__u64 sp = CGT_REG_SP(regs) + (__s64)site->sp_to_entry;
	__u64 prefix[CGT_G_PREFIX_WORDS];
	__u64 goid_word, hi_word;
	__u64 hi;

	if (!g || bpf_probe_read_user(prefix, sizeof(prefix), (void *)g))
		return -1;
	/* Older verifiers (Debian bookworm's 6.1, seen on arm64) need two
	 * things here that 6.18 does not: the bounds checked right before the
	 * indexed loads with no call in between (checked before the read,
	 * clang spilled the indexes before the check and 6.1 lost the bound
	 * of the reloaded copy), and the check on the 64-bit word index used
	 * for the load (barrier_var): clang otherwise compares the byte offset
	 * with 191, or a zero-extended copy of a __u32 index, and 6.1 does not
	 * carry that bound over to the register it then loads through. */
	goid_word = cfg->g_goid / 8;
	hi_word = cfg->g_stack_hi / 8;
	barrier_var(goid_word);
	barrier_var(hi_word);
	if (goid_word >= CGT_G_PREFIX_WORDS || hi_word >= CGT_G_PREFIX_WORDS)
		return -1;
	*goid = prefix[goid_word];
	hi = prefix[hi_word];
	return stack_depth(hi, sp, depth);
}

/* Reads only the probed frame's depth below g.stack.hi: one word of
 * runtime.g (the exporter between profile windows needs no goid). */
static __always_inline int read_depth(const cgt_regs *regs, const struct cgt_binary_config *cfg,
				      const struct cgt_site_desc *site, __u32 *depth)
{
	__u64 g = CGT_REG_G(regs);
	__u64 sp = CGT_REG_SP(regs) + (__s64)site->sp_to_entry;
	__u64 hi;

	if (!g || bpf_probe_read_user(&hi, sizeof(hi), (void *)(g + cfg->g_stack_hi)))
		return -1;
	return stack_depth(hi, sp, depth);
}

/* What a task-storage start needs of the goroutine. Events carry goid and
 * stack depth (`with_goid`: one user-memory read of runtime.g's prefix); the
 * exporter's rows need the depth only (one word). `stat` needs neither to
 * match an end with its frame (by the g register), only to tell a start
 * nested in a callback from one after a panic that unwound through C and
 * left frames behind (drop_stale_frames): it reads the depth for a callback
 * (later starts may nest in it) and when the thread has frames in flight, so
 * a call alone on its thread reads no user memory. Depth 0: not read (or,
 * for `stat`, unreadable). */
static __always_inline int start_goroutine(const cgt_regs *regs,
					   const struct cgt_binary_config *cfg,
					   const struct cgt_site_desc *site, int with_goid,
					   __u32 kind, const struct cgt_task_state *st, __u64 *goid,
					   __u32 *depth)
{
	if (with_goid)
		return read_goroutine(regs, cfg, site, goid, depth);
	*goid = 0;
	if (outputs & CGT_OUT_EXPORT)
		return read_depth(regs, cfg, site, depth);
	if ((kind == CGT_EV_CALLBACK || st->top != 0) && !read_depth(regs, cfg, site, depth))
		return 0;
	*depth = 0;
	return CGT_REG_G(regs) ? 0 : -1;
}

/* A value at a site, as its descriptor says where to find it; 0 if absent. */
static __always_inline __u64 read_value(const cgt_regs *regs, __u8 from, __u32 sp_off)
{
	__u64 v = 0;

	switch (from) {
	case CGT_SRC_ARG0:
		return CGT_REG_ARG0(regs);
	case CGT_SRC_SP_WORD:
		bpf_probe_read_user(&v, sizeof(v), (void *)(CGT_REG_SP(regs) + sp_off));
		return v;
#ifdef CGT_REG_LR
	case CGT_SRC_LR:
		return CGT_REG_LR(regs);
#endif
	default:
		return 0;
	}
}

static __always_inline const struct cgt_binary_config *binary_config(__u32 binary)
{
	const struct cgt_binary_config *cfg = bpf_map_lookup_elem(&binaries, &binary);

	if (!cfg || !cfg->valid)
		return 0;
	return cfg;
}

static __always_inline void on_start(cgt_regs *ctx, __u64 cookie, __u32 binary, __u32 kind,
				     const struct cgt_binary_config *cfg,
				     const struct cgt_site_desc *site)
{
	struct cgt_inflight_key key = {};
	struct cgt_inflight val = {};
	__u32 tid;

	stat_inc(CGT_STAT_ENTRIES);
	if (read_goroutine(ctx, cfg, site, &key.goid, &key.depth)) {
		stat_inc(CGT_STAT_READ_FAIL);
		return;
	}
	current_ids(&key.pid, &tid);
	key.site_kind = kind;
	/* The kernel reports the probed instruction's address as IP. */
	val.load_bias = CGT_REG_IP(ctx) - CGT_COOKIE_VADDR(cookie);
	val.fn = read_value(ctx, site->fn_from, site->fn_sp_off) - val.load_bias;
	val.caller_pc = 0;
	if (site->pc_from != CGT_SRC_NONE)
		val.caller_pc = read_value(ctx, site->pc_from, site->pc_sp_off) - val.load_bias;
	val.stack_id = CGT_NO_STACK;
	if (capture_stacks && kind == CGT_EV_CALL) {
		long id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);

		if (id >= 0)
			val.stack_id = (__u32)id;
		else
			stat_inc(CGT_STAT_STACK_FAIL);
	}
	val.binary = binary;
	val.start_ns = bpf_ktime_get_ns();
	/* An entry already at this key (same goroutine, depth and kind) is a
	 * call whose end never ran: a panic unwound through C and was recovered
	 * above it, and the goroutine calls again from the same place. It is
	 * replaced and counted; in_cgo counts the new call in its place. */
	if (bpf_map_update_elem(&inflight, &key, &val, BPF_NOEXIST) == 0) {
		if (kind == CGT_EV_CALL)
			in_cgo_add(binary, 1);
	} else {
		stat_inc(kind == CGT_EV_CALL ? CGT_STAT_UNRETURNED_PANIC : CGT_STAT_CB_UNRETURNED);
		bpf_map_update_elem(&inflight, &key, &val, BPF_ANY);
	}
}

static __always_inline void on_end(cgt_regs *ctx, __u64 now, __u32 binary, __u32 kind,
				   const struct cgt_binary_config *cfg,
				   const struct cgt_site_desc *site)
{
	struct cgt_inflight_key key = {};
	struct cgt_inflight *val;
	struct cgt_event *ev;
	__u32 tid;

	if (read_goroutine(ctx, cfg, site, &key.goid, &key.depth)) {
		stat_inc(CGT_STAT_READ_FAIL);
		return;
	}
	current_ids(&key.pid, &tid);
	key.site_kind = kind;
	val = bpf_map_lookup_elem(&inflight, &key);
	if (!val) {
		stat_inc(CGT_STAT_NO_ENTRY);
		return;
	}
	if (kind == CGT_EV_CALL)
		in_cgo_add(binary, -1);
	if (outputs & CGT_OUT_AGGREGATE)
		aggregate(binary, kind, val->fn, val->caller_pc, now - val->start_ns, 0, 0);
	if (outputs & CGT_OUT_EXPORT)
		export_call(binary, kind, val->fn, val->caller_pc, now - val->start_ns, 0,
			    key.depth);
	if (!events_wanted()) {
		bpf_map_delete_elem(&inflight, &key);
		return;
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		stat_inc(CGT_STAT_LOST_RINGBUF);
		bpf_map_delete_elem(&inflight, &key);
		return;
	}
	ev->start_ns = val->start_ns;
	ev->duration_ns = now - val->start_ns;
	ev->c_ns = 0;
	ev->sched_ns = 0;
	ev->fn = val->fn;
	ev->caller_pc = val->caller_pc;
	ev->load_bias = val->load_bias;
	ev->goid = key.goid;
	ev->pid = key.pid;
	ev->tid = tid;
	ev->stack_depth = key.depth;
	ev->binary = binary;
	ev->kind = kind;
	ev->pad0 = 0;
	ev->stack_id = val->stack_id;
	bpf_map_delete_elem(&inflight, &key);

	bpf_ringbuf_submit(ev, submit_flags());
	stat_inc(CGT_STAT_EVENTS);
}

static __always_inline void emit(__u64 now, __u32 binary, __u32 kind, __u32 pid, __u32 tid,
				 __u64 start_ns, __u64 fn, __u64 caller_pc, __u64 load_bias,
				 __u64 goid, __u32 depth, __u32 stack_id, __u64 c_ns,
				 __u64 sched_ns)
{
	struct cgt_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		stat_inc(CGT_STAT_LOST_RINGBUF);
		return;
	}
	ev->start_ns = start_ns;
	ev->duration_ns = now - start_ns;
	ev->fn = fn;
	ev->caller_pc = caller_pc;
	ev->load_bias = load_bias;
	ev->goid = goid;
	ev->pid = pid;
	ev->tid = tid;
	ev->stack_depth = depth;
	ev->binary = binary;
	ev->kind = kind;
	ev->pad0 = 0;
	ev->stack_id = stack_id;
	ev->c_ns = c_ns;
	ev->sched_ns = sched_ns;
	bpf_ringbuf_submit(ev, submit_flags());
	stat_inc(CGT_STAT_EVENTS);
}

/* Whether frame `f` stays live below a new start of goroutine `g` (goid and
 * depth as the start read them; depth 0: not read). `in_dropped` says the
 * frame above it was a callback of `g` found abandoned: the call it ran in
 * was cut off by the same panic. A depth not read (`stat`: a call that was
 * alone on its thread) leaves only that to tell. The g pointer names the
 * goroutine; the goid, read while events are on, only guards against a
 * reused g. */
static __always_inline int frame_stays(const struct cgt_task_frame *f, __u64 g, int with_goid,
				       __u64 goid, __u32 depth, int in_dropped)
{
	if (f->g != g || in_dropped)
		return 0;
	if (!f->depth || !depth)
		return 1;
	return f->depth < depth && (!with_goid || !f->has_goid || f->goid == goid);
}

/* Before a start on this thread, pops the frames whose end can no longer
 * run. A frame below a new start stays live only while the thread runs the
 * same goroutine deeper in its stack (C -> Go callback -> C: each nested
 * start is deeper than the frames it nests in). A frame of another goroutine,
 * or of this one at the new start's depth or deeper, was abandoned: a Go
 * panic unwound through C and was recovered above the call; so was the call
 * an abandoned callback ran in. */
static __always_inline void drop_stale_frames(struct cgt_task_state *st, __u64 g, int with_goid,
					      __u64 goid, __u32 depth)
{
	struct cgt_task_frame *f;
	int cb_dropped = 0;
	__u32 i;

	for (i = 0; i < CGT_TASK_FRAMES; i++) {
		if (st->top == 0 || st->top > CGT_TASK_FRAMES)
			return;
		f = &st->frames[(st->top - 1) & (CGT_TASK_FRAMES - 1)];
		if (frame_stays(f, g, with_goid, goid, depth, cb_dropped && f->kind == CGT_EV_CALL))
			return;
		cb_dropped = f->g == g && f->kind == CGT_EV_CALLBACK;
		drop_inflight(f->kind, f->binary, !f->c_end_ns, CGT_STAT_UNRETURNED_PANIC);
		st->top--;
	}
}

/* Start of an event whose end runs on the same thread: push a frame. */
static __always_inline void on_task_start(cgt_regs *ctx, __u64 cookie, __u32 binary, __u32 kind,
					  const struct cgt_binary_config *cfg,
					  const struct cgt_site_desc *site)
{
	struct cgt_task_state *st;
	struct cgt_task_frame *f;
	int with_goid = events_wanted();
	__u64 goid, bias;
	__u32 depth;

	stat_inc(CGT_STAT_ENTRIES);
	st = bpf_task_storage_get(&task_state, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return;
	if (start_goroutine(ctx, cfg, site, with_goid, kind, st, &goid, &depth)) {
		stat_inc(CGT_STAT_READ_FAIL);
		return;
	}
	drop_stale_frames(st, CGT_REG_G(ctx), with_goid, goid, depth);
	f = &st->frames[st->top & (CGT_TASK_FRAMES - 1)];
	if (st->top >= CGT_TASK_FRAMES) {
		stat_inc(CGT_STAT_INFLIGHT_OVERFLOW);
		drop_inflight(f->kind, f->binary, !f->c_end_ns, CGT_STAT_UNRETURNED_EVICTED);
	}
	bias = CGT_REG_IP(ctx) - CGT_COOKIE_VADDR(cookie);
	f->load_bias = bias;
	f->fn = read_value(ctx, site->fn_from, site->fn_sp_off) - bias;
	f->caller_pc = 0;
	if (site->pc_from != CGT_SRC_NONE)
		f->caller_pc = read_value(ctx, site->pc_from, site->pc_sp_off) - bias;
	f->g = CGT_REG_G(ctx);
	f->goid = goid;
	f->has_goid = with_goid != 0;
	f->depth = depth;
	f->kind = kind;
	f->binary = binary;
	f->stack_id = CGT_NO_STACK;
	if (capture_stacks && kind == CGT_EV_CALL) {
		long id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);

		if (id >= 0)
			f->stack_id = (__u32)id;
		else
			stat_inc(CGT_STAT_STACK_FAIL);
	}
	f->c_end_ns = 0;
	f->start_ns = bpf_ktime_get_ns();
	st->top++;
	if (kind == CGT_EV_CALL)
		in_cgo_add(binary, 1);
}

/* Pops and counts the frames above position `keep` (frames pushed and not
 * popped that stay): their end will never run. */
static __always_inline void drop_frames_above(struct cgt_task_state *st, __u32 keep, __u32 cause)
{
	struct cgt_task_frame *f;
	__u32 i;

	for (i = 0; i < CGT_TASK_FRAMES; i++) {
		if (st->top <= keep)
			return;
		f = &st->frames[(st->top - 1) & (CGT_TASK_FRAMES - 1)];
		drop_inflight(f->kind, f->binary, !f->c_end_ns, cause);
		st->top--;
	}
}

/* The newest frame of goroutine `g` and `kind` on this thread that is in
 * runtime.exitsyscall (C end seen, --breakdown) or not, as `exiting` says;
 * *top is then the stack height with that frame on top (frames above it are
 * ones whose end never ran: a panic unwinding a callback through C). NULL if
 * none. `exiting` keeps a --breakdown end whose frame moved off the thread
 * from taking an outer call's frame (C -> Go -> C on one goroutine). */
static __always_inline struct cgt_task_frame *task_find(struct cgt_task_state *st, __u64 g,
							__u32 kind, int exiting, __u32 *top)
{
	struct cgt_task_frame *f;
	__u32 t = st->top, i;

	for (i = 0; i < CGT_TASK_FRAMES; i++) {
		if (t == 0)
			break;
		f = &st->frames[(t - 1) & (CGT_TASK_FRAMES - 1)];
		if (f->g == g && f->kind == kind && (f->c_end_ns != 0) == (exiting != 0)) {
			/* The caller drops the frames above this one. */
			*top = t;
			return f;
		}
		t--;
	}
	return 0;
}

/* A completed call or callback: counted in the rows the run asked for
 * (`outputs`), with its split when measured (`sched_ns` not 0), and emitted
 * when events are wanted and its start read the goid (`has_goid`). */
static __always_inline void end_call(__u64 now, __u32 binary, __u32 kind, __u64 start_ns, __u64 fn,
				     __u64 caller_pc, __u64 load_bias, __u64 goid, int has_goid,
				     __u32 depth, __u32 stack_id, __u64 c_ns, __u64 sched_ns)
{
	__u32 pid, tid;

	if (outputs & CGT_OUT_AGGREGATE)
		aggregate(binary, kind, fn, caller_pc, now - start_ns, c_ns, sched_ns);
	if (outputs & CGT_OUT_EXPORT)
		export_call(binary, kind, fn, caller_pc, now - start_ns, sched_ns, depth);
	if (!events_wanted() || !has_goid)
		return;
	current_ids(&pid, &tid);
	emit(now, binary, kind, pid, tid, start_ns, fn, caller_pc, load_bias, goid, depth, stack_id,
	     c_ns, sched_ns);
}

/* --breakdown's end of a call whose frame exitsyscall's slow path moved to
 * `inflight` (on_task_off_thread), keyed by its g: the goroutine resumed on
 * this thread. No user-memory read: the g register names the frame. */
static __always_inline void on_moved_end(cgt_regs *ctx, __u64 now, __u32 binary)
{
	struct cgt_inflight_key key = {};
	struct cgt_inflight *val;
	__u32 tid;

	current_ids(&key.pid, &tid);
	key.goid = CGT_REG_G(ctx);
	key.depth = CGT_MOVED_DEPTH;
	key.site_kind = CGT_EV_CALL;
	val = bpf_map_lookup_elem(&inflight, &key);
	if (!val) {
		stat_inc(CGT_STAT_NO_ENTRY);
		return;
	}
	/* Moved frames left C already (c_end_ns set): in_cgo does not count them. */
	end_call(now, binary, CGT_EV_CALL, val->start_ns, val->fn, val->caller_pc, val->load_bias,
		 val->goid, val->has_goid, val->depth, val->stack_id, val->c_end_ns - val->start_ns,
		 now - val->c_end_ns);
	bpf_map_delete_elem(&inflight, &key);
}

/* End of an event started on this thread: pop its frame. With --breakdown
 * (CGT_SITE_F_MAY_MOVE) a frame not found here was moved to `inflight` by
 * exitsyscall's slow path, and the goroutine resumed on this thread. */
static __always_inline void on_task_end(cgt_regs *ctx, __u64 now, __u32 binary, __u32 kind,
					const struct cgt_site_desc *site)
{
	struct cgt_task_state *st;
	struct cgt_task_frame *f = 0;
	__u64 c_ns = 0, sched_ns = 0;
	__u32 top;

	st = bpf_task_storage_get(&task_state, bpf_get_current_task_btf(), 0, 0);
	if (st)
		f = task_find(st, CGT_REG_G(ctx), kind, (site->flags & CGT_SITE_F_MAY_MOVE) != 0,
			      &top);
	if (!f) {
		if (site->flags & CGT_SITE_F_MAY_MOVE)
			on_moved_end(ctx, now, binary);
		else
			/* Leave other goroutines' frames for their own ends. */
			stat_inc(CGT_STAT_NO_ENTRY);
		return;
	}
	drop_frames_above(st, top, CGT_STAT_UNRETURNED_PANIC);
	f = &st->frames[(top - 1) & (CGT_TASK_FRAMES - 1)];
	st->top = top - 1;
	if (f->c_end_ns) {
		c_ns = f->c_end_ns - f->start_ns;
		sched_ns = now - f->c_end_ns;
	} else {
		if (kind == CGT_EV_CALL)
			in_cgo_add(binary, -1);
		if (site->flags & CGT_SITE_F_C_END)
			c_ns = now - f->start_ns;
	}
	end_call(now, binary, kind, f->start_ns, f->fn, f->caller_pc, f->load_bias, f->goid,
		 f->has_goid, f->depth, f->stack_id, c_ns, sched_ns);
}

/* --breakdown, CALL runtime.exitsyscall: C returned. The frame stays until
 * exitsyscall returns (CGT_SE_CALL_END), which then knows both parts. */
static __always_inline void on_task_c_end(cgt_regs *ctx, __u64 now, __u32 binary)
{
	struct cgt_task_state *st;
	struct cgt_task_frame *f;
	__u32 top;

	st = bpf_task_storage_get(&task_state, bpf_get_current_task_btf(), 0, 0);
	if (!st) {
		stat_inc(CGT_STAT_NO_ENTRY);
		return;
	}
	f = task_find(st, CGT_REG_G(ctx), CGT_EV_CALL, 0, &top);
	if (!f) {
		stat_inc(CGT_STAT_NO_ENTRY);
		return;
	}
	drop_frames_above(st, top, CGT_STAT_UNRETURNED_PANIC);
	f = &st->frames[(top - 1) & (CGT_TASK_FRAMES - 1)];
	f->c_end_ns = now;
	in_cgo_add(binary, -1);
}

/* --breakdown, CALL runtime.mcall in runtime.exitsyscall (slow path only):
 * the goroutine waits for a P and may resume on another thread, so its
 * call's frame moves to `inflight`, keyed by its g (CGT_MOVED_DEPTH): the
 * start need not have read the goid or depth (stat, the exporter). Every
 * syscall of the program that takes the slow path comes here too: those have
 * no frame in exitsyscall (c_end_ns set) on top and cost one task storage
 * lookup. */
static __always_inline void on_task_off_thread(cgt_regs *ctx)
{
	struct cgt_inflight_key key = {};
	struct cgt_inflight val = {};
	struct cgt_task_state *st;
	struct cgt_task_frame *f;
	__u32 top, tid;

	st = bpf_task_storage_get(&task_state, bpf_get_current_task_btf(), 0, 0);
	if (!st || st->top == 0)
		return;
	top = st->top;
	f = &st->frames[(top - 1) & (CGT_TASK_FRAMES - 1)];
	if (!f->c_end_ns || f->g != CGT_REG_G(ctx) || f->kind != CGT_EV_CALL)
		return;
	current_ids(&key.pid, &tid);
	key.goid = f->g;
	key.depth = CGT_MOVED_DEPTH;
	key.site_kind = CGT_EV_CALL;
	val.goid = f->goid;
	val.depth = f->depth;
	val.has_goid = f->has_goid;
	val.start_ns = f->start_ns;
	val.fn = f->fn;
	val.caller_pc = f->caller_pc;
	val.load_bias = f->load_bias;
	val.stack_id = f->stack_id;
	val.c_end_ns = f->c_end_ns;
	val.binary = f->binary;
	st->top = top - 1;
	bpf_map_update_elem(&inflight, &key, &val, BPF_ANY);
}

SEC("uprobe")
int cgt_site(cgt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 binary = CGT_COOKIE_BINARY(cookie);
	__u32 key = CGT_SITE_KEY(binary, CGT_COOKIE_SLOT(cookie));
	const struct cgt_binary_config *cfg = binary_config(binary);
	const struct cgt_site_desc *site = bpf_map_lookup_elem(&sites, &key);
	__u64 now;

	if (!cfg || !site)
		return 0;
	/* One clock read per hit: an end reads it first thing, a start last
	 * (on_task_start, on_start), so a call's duration leaves out
	 * cgotrace's own work at both ends. */
	if (site->event == CGT_SE_CALL_START || site->event == CGT_SE_CB_START)
		now = 0;
	else
		now = bpf_ktime_get_ns();
	if (site->event == CGT_SE_C_END) {
		on_task_c_end(ctx, now, binary);
		return 0;
	}
	if (site->event == CGT_SE_CALL_OFF_THREAD) {
		on_task_off_thread(ctx);
		return 0;
	}
	if (site->flags & CGT_SITE_F_TASK) {
		switch (site->event) {
		case CGT_SE_CALL_START:
			on_task_start(ctx, cookie, binary, CGT_EV_CALL, cfg, site);
			break;
		case CGT_SE_CB_START:
			on_task_start(ctx, cookie, binary, CGT_EV_CALLBACK, cfg, site);
			break;
		case CGT_SE_CALL_END:
			on_task_end(ctx, now, binary, CGT_EV_CALL, site);
			break;
		case CGT_SE_CB_END:
			on_task_end(ctx, now, binary, CGT_EV_CALLBACK, site);
			break;
		default:
			break;
		}
		return 0;
	}
	switch (site->event) {
	case CGT_SE_CALL_START:
		on_start(ctx, cookie, binary, CGT_EV_CALL, cfg, site);
		break;
	case CGT_SE_CB_START:
		on_start(ctx, cookie, binary, CGT_EV_CALLBACK, cfg, site);
		break;
	case CGT_SE_CALL_END:
		on_end(ctx, now, binary, CGT_EV_CALL, cfg, site);
		break;
	case CGT_SE_CB_END:
		on_end(ctx, now, binary, CGT_EV_CALLBACK, cfg, site);
		break;
	default:
		break;
	}
	return 0;
}

/* Calls in flight in the `inflight` hash of process `pid`, for the sweep at
 * its exit. */
struct sweep_ctx {
	__u32 pid;
};

static long sweep_process(void *map, struct cgt_inflight_key *key, struct cgt_inflight *val,
			  struct sweep_ctx *c)
{
	if (key->pid == c->pid) {
		drop_inflight(key->site_kind, val->binary, !val->c_end_ns,
			      CGT_STAT_UNRETURNED_EXIT);
		bpf_map_delete_elem(map, key);
	}
	return 0;
}

/* A thread exits: what it had in flight never returns (SIGKILL, exit with
 * goroutines in C, the other threads of an exec). Its per-thread frames are
 * dropped here, before the kernel frees its task storage; the per-goroutine
 * entries of the whole process when its main thread exits (Go never ends
 * its main thread before the process). Runs at every thread exit on the
 * host: one task-storage lookup when the thread never ran a traced site. */
SEC("tp_btf/sched_process_exit")
int cgt_thread_exit(__u64 *ctx)
{
	struct cgt_task_state *st;
	struct sweep_ctx c = {};
	__u32 tid;

	st = bpf_task_storage_get(&task_state, bpf_get_current_task_btf(), 0, 0);
	if (st) {
		drop_frames_above(st, 0, CGT_STAT_UNRETURNED_EXIT);
		st->top = 0;
	}
	current_ids(&c.pid, &tid);
	if (c.pid == tid)
		bpf_for_each_map_elem(&inflight, sweep_process, &c, 0);
	return 0;
}

/* The kernel floor for benchmarks: attached at the same sites as cgt_site
 * when asked (trace --empty-probes), it measures what the uprobe mechanism
 * alone costs the target. */
SEC("uprobe")
int cgt_empty(cgt_regs *ctx)
{
	return 0;
}
