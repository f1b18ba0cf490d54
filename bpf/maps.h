/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgotrace's BPF maps and the configuration userspace sets before load
 * (rodata) or while attached (.data). Part of cgotrace.bpf.c, the one
 * translation unit of the kernel side; the layout of every value is in
 * cgotrace_abi.h.
 */
#ifndef CGOTRACE_BPF_MAPS_H
#define CGOTRACE_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "cgotrace_abi.h"

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

#endif /* CGOTRACE_BPF_MAPS_H */
