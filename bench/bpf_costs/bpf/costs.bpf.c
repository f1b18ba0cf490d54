// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What each building block of cgotrace's BPF program costs per probe hit:
 * one program per primitive, attached by bench/bpf_costs at the planned call
 * start and end sites of the bench loop, timed by kernel.bpf_stats (which
 * adds its own ≈ 60 ns to every program, the empty one included). The
 * difference to `empty` is what the primitive adds; docs/performance.md
 * ("Where the BPF time goes") has the figures.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "arch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct task_struct;

/* Sized like cgotrace's per-thread frame stack and runtime.g prefix. */
struct state {
	__u64 words[24];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct state);
} task_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20); /* 2 records per call, drained after each run */
} events SEC(".maps");

/* Keeps results alive so the compiler cannot drop the work. */
__u64 sink;

SEC("uprobe")
int empty(cgt_regs *ctx)
{
	return 0;
}

SEC("uprobe")
int attach_cookie(cgt_regs *ctx)
{
	sink += bpf_get_attach_cookie(ctx);
	return 0;
}

SEC("uprobe")
int ktime(cgt_regs *ctx)
{
	sink += bpf_ktime_get_ns();
	return 0;
}

SEC("uprobe")
int pid_tgid(cgt_regs *ctx)
{
	sink += bpf_get_current_pid_tgid();
	return 0;
}

SEC("uprobe")
int percpu_add(cgt_regs *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&counters, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("uprobe")
int task_storage(cgt_regs *ctx)
{
	struct state *st = bpf_task_storage_get(&task_state, bpf_get_current_task_btf(), 0,
						BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (st)
		st->words[0]++;
	return 0;
}

SEC("uprobe")
int read_user_8(cgt_regs *ctx)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (void *)CGT_REG_SP(ctx));
	sink += v;
	return 0;
}

SEC("uprobe")
int read_user_192(cgt_regs *ctx)
{
	struct state g = {};

	bpf_probe_read_user(&g, sizeof(g), (void *)CGT_REG_G(ctx));
	sink += g.words[1] + g.words[19];
	return 0;
}

SEC("uprobe")
int ringbuf_record(cgt_regs *ctx)
{
	__u64 *ev = bpf_ringbuf_reserve(&events, 96, 0);

	if (!ev)
		return 0;
	ev[0] = 1;
	ev[11] = 2;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return 0;
}
