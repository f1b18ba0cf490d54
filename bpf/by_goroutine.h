/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * In-flight calls keyed by goroutine (the `inflight` LRU hash): the entry /
 * RET fallback sites, whose start and end may run on different threads
 * (docs/architecture.md, "In-flight calls, per goroutine").
 */
#ifndef CGOTRACE_BPF_BY_GOROUTINE_H
#define CGOTRACE_BPF_BY_GOROUTINE_H

#include "goroutine.h"
#include "outputs.h"

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

#endif /* CGOTRACE_BPF_BY_GOROUTINE_H */
