/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Counters every site handler keeps (calls in C, the stats userspace shows
 * as lost / unreturned / events), atomic maximum and minimum, and who the
 * current task is.
 */
#ifndef CGOTRACE_BPF_ACCOUNTING_H
#define CGOTRACE_BPF_ACCOUNTING_H

#include "maps.h"

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

#endif /* CGOTRACE_BPF_ACCOUNTING_H */
