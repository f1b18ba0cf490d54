/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a completed call produces, as `outputs` asks: a row of `aggregates`
 * (stat), a row of `export_rows` (the exporter), an event in the ring buffer
 * (trace, record, the exporter's profile windows).
 */
#ifndef CGOTRACE_BPF_OUTPUTS_H
#define CGOTRACE_BPF_OUTPUTS_H

#include "accounting.h"

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

#endif /* CGOTRACE_BPF_OUTPUTS_H */
