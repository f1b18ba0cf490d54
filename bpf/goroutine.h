/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a site reads of the traced goroutine and the probed frame: goid and
 * stack depth from runtime.g (user memory), fn and the caller's PC where the
 * site descriptor says they are, the binary's configuration.
 */
#ifndef CGOTRACE_BPF_GOROUTINE_H
#define CGOTRACE_BPF_GOROUTINE_H

#include "arch.h"
#include "maps.h"

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

#endif /* CGOTRACE_BPF_GOROUTINE_H */
