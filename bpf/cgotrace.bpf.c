// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgotrace kernel side: times every runtime.cgocall and runtime.cgocallbackg.
 *
 * One program, cgt_site, serves every probe site of every traced binary; the
 * uprobe's cookie names the binary (index into `binaries`) and the site's
 * slot, whose descriptor in `sites` says what the site does (cgotrace_abi.h).
 * A start pushes a frame (start time, fn, goroutine) and the matching end
 * pops it and produces what `outputs` asks for: per thread in task storage at
 * the planned sites (task_frames.h), per goroutine in the `inflight` hash at
 * the entry / RET fallback (by_goroutine.h). cgt_thread_exit drops what an
 * exiting thread or process still had in flight; cgt_empty is the
 * benchmarks' kernel floor.
 *
 * Files: maps.h (maps, configuration), accounting.h (counters, ids),
 * goroutine.h (what a site reads of the goroutine), outputs.h (aggregate
 * rows, exporter rows, events), by_goroutine.h, task_frames.h. One
 * translation unit: each header is included here only.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "arch.h"
#include "by_goroutine.h"
#include "cgotrace_abi.h"
#include "task_frames.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
