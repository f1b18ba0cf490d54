/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * In-flight calls per thread (task storage): the planned sites, whose start
 * and end run on one thread, push and pop frames on an 8-deep stack; frames
 * whose end can no longer run are dropped and counted by cause; with
 * --breakdown a frame that waits for a P moves to `inflight`, keyed by its g
 * (docs/architecture.md, "In-flight calls, per thread").
 */
#ifndef CGOTRACE_BPF_TASK_FRAMES_H
#define CGOTRACE_BPF_TASK_FRAMES_H

#include "goroutine.h"
#include "outputs.h"

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

#endif /* CGOTRACE_BPF_TASK_FRAMES_H */
