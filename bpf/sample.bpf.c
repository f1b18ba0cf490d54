// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgotrace sampling: what every thread of one Go process is doing right now,
 * read from the Go runtime's own state, with no probe on any call.
 *
 * A sleepable task iterator, attached for one process and run by userspace
 * at the sampling rate (each read() of an iterator instance is one sample),
 * visits every thread, running or blocked alike, and for each:
 *   thread pointer (fs_base / tpidr_el0) + tls_g -> g; g.m -> m;
 *   in a cgo call when g == m.g0 (C runs on g0), m.incgo and m.curg != 0;
 *   then curg.goid, curg.syscallsp/pc and the Go frames from cgocall's frame
 *   up (the _Cfunc_ wrapper, then its Go callers), and the C frames from the
 *   thread's saved user registers (IP, then the frame-pointer chain).
 * bpf_copy_from_user_task reads another process's memory, and may sleep to
 * fault a page in: hence a sleepable (iter.s) program.
 *
 * Kernel types are declared here, minimal, with preserve_access_index: libbpf
 * relocates every field against the running kernel's BTF (CO-RE), and no
 * vmlinux.h is generated from the build host.
 */
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "arch.h"
#include "cgotrace_sample_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#if defined(__TARGET_ARCH_x86)
struct thread_struct {
	unsigned long fsbase;
} __attribute__((preserve_access_index));
#define CGT_THREAD_POINTER(t) ((t)->thread.fsbase)
#elif defined(__TARGET_ARCH_arm64)
struct thread_struct {
	struct {
		unsigned long tp_value;
	} uw;
} __attribute__((preserve_access_index));
#define CGT_THREAD_POINTER(t) ((t)->thread.uw.tp_value)
#endif

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct pid_namespace {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct upid {
	int nr;
	struct pid_namespace *ns;
} __attribute__((preserve_access_index));

struct pid {
	unsigned int level;
	struct upid numbers[1];
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int __state;
	int on_cpu; /* CONFIG_SMP */
	unsigned long nvcsw;
	unsigned long nivcsw;
	int pid;
	int tgid;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	struct thread_struct thread;
} __attribute__((preserve_access_index));

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

/* include/linux/sched.h */
#define CGT_TASK_RUNNING 0

const volatile struct cgt_sample_config cfg = {};

/* Per-thread scratch: too large for the 512-byte BPF stack. Sleepable
 * programs run with migration disabled, so a per-CPU slot is theirs. */
struct scratch {
	struct cgt_sample s;
	__u64 c_frames[CGT_SAMPLE_C_DEPTH];
	__u64 go_frames[CGT_SAMPLE_GO_DEPTH];
	__u8 m[CGT_SAMPLE_M_BYTES];
	__u8 g[CGT_SAMPLE_G_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CGT_SAMPLE_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct cgt_thread_memo);
} memos SEC(".maps");

static __always_inline int read_user(void *dst, __u32 size, __u64 addr, struct task_struct *task)
{
	if (!addr)
		return -1;
	return bpf_copy_from_user_task(dst, size, (const void *)addr, task, 0) ? -1 : 0;
}

/* A u64 field of a struct copied into `buf`, at an offset from .rodata. */
static __always_inline __u64 field_u64(const __u8 *buf, __u32 off, __u32 size)
{
	if (off > size - sizeof(__u64))
		return 0;
	return *(const __u64 *)(buf + off);
}

static __always_inline __u8 field_u8(const __u8 *buf, __u32 off, __u32 size)
{
	if (off >= size)
		return 0;
	return buf[off];
}

#define CGT_SAMPLE_MAX_DEPTH                                                                       \
	(CGT_SAMPLE_C_DEPTH > CGT_SAMPLE_GO_DEPTH ? CGT_SAMPLE_C_DEPTH : CGT_SAMPLE_GO_DEPTH)

/* Follows a frame-pointer chain: each frame holds the caller's frame pointer
 * at [fp] and the return address at [fp + 8]. Frame pointers grow towards
 * the stack top, which ends a chain that goes astray. Returns frames written. */
static __always_inline __u32 walk_frames(__u64 *out, __u32 max, __u64 fp, struct task_struct *task,
					 int *truncated)
{
	__u64 frame[2];
	__u32 n = 0;

	for (int i = 0; i < CGT_SAMPLE_MAX_DEPTH; i++) {
		if (n >= max || !fp)
			break;
		if (read_user(frame, sizeof(frame), fp, task))
			break;
		if (!frame[1])
			break;
		out[n++] = frame[1];
		if (frame[0] <= fp)
			return n;
		fp = frame[0];
	}
	if (n >= max && fp)
		*truncated = 1;
	return n;
}

static __always_inline void read_regs(struct task_struct *task, struct cgt_sample *s)
{
	struct pt_regs *kregs = (struct pt_regs *)bpf_task_pt_regs(task);
	cgt_regs regs;

	if (!kregs || bpf_probe_read_kernel(&regs, sizeof(regs), kregs))
		return;
	s->user_ip = CGT_REG_IP(&regs);
	s->user_sp = CGT_REG_SP(&regs);
	s->user_bp = CGT_REG_FP(&regs);
}

/* Namespaces nested deeper than this below the reader's are not looked at
 * (the kernel allows 32; containers in containers rarely pass 3). */
#define CGT_PIDNS_MAX_DEPTH 8

/* The number `p` has in the reader's PID namespace (cfg.pidns_ino), or
 * `global` when no namespace was given or it is not found (the task is then
 * outside the reader's namespace, which the iterator's pid filter rules out:
 * it resolves the PID in the reader's namespace). A struct pid holds one
 * number per namespace level, numbers[0] the initial namespace's. */
static __always_inline __u32 pid_in_reader_ns(struct pid *p, __u32 global)
{
	unsigned int level;

	if (!cfg.pidns_ino || !p)
		return global;
	level = BPF_CORE_READ(p, level);
	for (int i = 0; i < CGT_PIDNS_MAX_DEPTH; i++) {
		struct upid u = {};

		if (i > level)
			break;
		if (bpf_core_read(&u, sizeof(u), &p->numbers[i]))
			break;
		if (u.ns && BPF_CORE_READ(u.ns, ns.inum) == cfg.pidns_ino)
			return u.nr;
	}
	return global;
}

static __always_inline void write_frames(struct seq_file *seq, const __u64 *frames, __u64 n,
					 __u64 max)
{
	if (n == 0)
		return;
	/* Two separate tests on one 64-bit register: clang otherwise folds them
	 * into one unsigned range check on a copy (n - (max + 1) < -max), or
	 * checks a zero-extended copy of a 32-bit n, and the 6.1 verifier
	 * (Debian bookworm, the arm64 tier) does not carry either bound over to
	 * the register that is written, rejecting the write as unbounded. */
	barrier_var(n);
	if (n > max)
		return;
	bpf_seq_write(seq, frames, n * sizeof(__u64));
}

SEC("iter.s/task")
int cgt_sample_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct scratch *sc;
	struct cgt_sample *s;
	__u32 zero = 0;
	struct cgt_thread_memo *memo;
	__u64 g, m, g0, curg, bp;
	int truncated = 0;
	__u64 switches;
	int same_call;
	__u32 tid;

	if (!task)
		return 0;
	sc = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!sc)
		return 0;
	s = &sc->s;
	__builtin_memset(s, 0, sizeof(*s));
	s->pid = pid_in_reader_ns(BPF_CORE_READ(task, group_leader, thread_pid), task->tgid);
	s->tid = pid_in_reader_ns(BPF_CORE_READ(task, thread_pid), task->pid);
	s->time_ns = bpf_ktime_get_ns();
	if (task->__state == CGT_TASK_RUNNING)
		s->flags |= CGT_SAMPLE_RUNNING;
	if (bpf_core_field_exists(task->on_cpu) && task->on_cpu)
		s->flags |= CGT_SAMPLE_ON_CPU;
	read_regs(task, s);

	tid = s->tid;
	memo = bpf_map_lookup_elem(&memos, &tid);
	if (!memo) {
		struct cgt_thread_memo fresh = {};

		bpf_map_update_elem(&memos, &tid, &fresh, BPF_ANY);
		memo = bpf_map_lookup_elem(&memos, &tid);
		if (!memo)
			goto fail;
	}
	switches = task->nvcsw + task->nivcsw;
	if (memo->complete && memo->switches == switches && !(s->flags & CGT_SAMPLE_RUNNING)) {
		s->flags |= CGT_SAMPLE_UNCHANGED;
		goto out;
	}
	memo->complete = 0;
	memo->switches = switches;

	g = 0;
	if (read_user(&g, sizeof(g), CGT_THREAD_POINTER(task) + cfg.tls_g, task) || !g)
		goto done; /* not a Go thread (yet), or no TLS */
	s->flags |= CGT_SAMPLE_GO;
	if (memo->g0 == g) {
		m = memo->m; /* on g0, as in C: its m never changes */
	} else if (read_user(&m, sizeof(m), g + cfg.g_m, task)) {
		goto fail;
	}
	if (read_user(sc->m, sizeof(sc->m), m, task))
		goto fail;
	s->procid = field_u64(sc->m, cfg.m_procid, sizeof(sc->m));
	s->ncgocall = field_u64(sc->m, cfg.m_ncgocall, sizeof(sc->m));
	g0 = field_u64(sc->m, cfg.m_g0, sizeof(sc->m));
	curg = field_u64(sc->m, cfg.m_curg, sizeof(sc->m));
	if (g == g0) {
		memo->g0 = g0;
		memo->m = m;
	}
	if (g != g0 || !curg || !field_u8(sc->m, cfg.m_incgo, sizeof(sc->m))) {
		memo->ncgocall = 0;
		goto done;
	}

	s->flags |= CGT_SAMPLE_IN_C;
	same_call = memo->ncgocall == s->ncgocall && memo->curg == curg;
	/* C side: the IP, then the frame chain from the saved frame pointer. A
	 * thread still blocked in the same call with the same registers is where
	 * it was. */
	if (same_call && !(s->flags & CGT_SAMPLE_RUNNING) && memo->user_ip == s->user_ip &&
	    memo->user_sp == s->user_sp && memo->user_bp == s->user_bp) {
		s->flags |= CGT_SAMPLE_SAME_C;
	} else if (s->user_ip) {
		sc->c_frames[0] = s->user_ip;
		s->n_c_frames = 1 + walk_frames(&sc->c_frames[1], CGT_SAMPLE_C_DEPTH - 1,
						s->user_bp, task, &truncated);
		if (truncated)
			s->flags |= CGT_SAMPLE_C_TRUNC;
		memo->user_ip = s->user_ip;
		memo->user_sp = s->user_sp;
		memo->user_bp = s->user_bp;
	}
	memo->ncgocall = s->ncgocall;
	memo->curg = curg;
	if (same_call) {
		s->flags |= CGT_SAMPLE_SAME_CALL;
		goto done;
	}
	if (read_user(sc->g, sizeof(sc->g), curg, task)) {
		memo->ncgocall = 0; /* read it all again next time */
		goto fail;
	}
	s->goid = field_u64(sc->g, cfg.g_goid, sizeof(sc->g));
	s->stack_hi = field_u64(sc->g, cfg.g_stack_hi, sizeof(sc->g));
	s->syscallsp = field_u64(sc->g, cfg.g_syscallsp, sizeof(sc->g));
	s->syscallpc = field_u64(sc->g, cfg.g_syscallpc, sizeof(sc->g));
	/* Go side: cgocall's own frame, whose return address is in the _Cfunc_
	 * wrapper; g.syscallbp is that frame pointer (go1.23+), older releases
	 * derive it from syscallsp and cgocall's frame size. */
	bp = cfg.g_syscallbp ? field_u64(sc->g, cfg.g_syscallbp, sizeof(sc->g))
			     : (s->syscallsp ? s->syscallsp + cfg.cgocall_bp : 0);
	truncated = 0;
	s->n_go_frames = walk_frames(sc->go_frames, CGT_SAMPLE_GO_DEPTH, bp, task, &truncated);
done:
	memo->complete = 1;
	goto out;
fail:
	s->flags |= CGT_SAMPLE_READ_FAIL;
out:
	bpf_seq_write(seq, s, sizeof(*s));
	write_frames(seq, sc->c_frames, s->n_c_frames, CGT_SAMPLE_C_DEPTH);
	write_frames(seq, sc->go_frames, s->n_go_frames, CGT_SAMPLE_GO_DEPTH);
	return 0;
}
