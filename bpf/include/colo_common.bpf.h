/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* BPF-only helpers shared by colo's programs: histogram slots, cgroup ids
 * read through CO-RE, class lookup, drop counters. */
#ifndef COLO_COMMON_BPF_H
#define COLO_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "colo_abi.h"

#ifndef COLO_MAX_CGROUPS
#define COLO_MAX_CGROUPS 8192
#endif

/* Set before load by the agent. When the controller lives on a v1
 * hierarchy, the cgroup is read from task->cgroups->subsys[<ctrl>_cgrp_id];
 * otherwise from the default (v2) hierarchy. */
const volatile bool cpu_on_v1 = false;
const volatile bool mem_on_v1 = false;
/* Hierarchy ids (from /proc/cgroups; 0 = v2) of the cgroups above, so that
 * cgroup ids of different hierarchies, which can be equal, are told apart. */
const volatile __u32 cpu_hierarchy = 0;
const volatile __u32 mem_hierarchy = 0;

/* Kernels before 5.5 had a union as kernfs_node::id. */
union kernfs_node_id___old {
	struct {
		u32 ino;
		u32 generation;
	};
	u64 id;
} __attribute__((preserve_access_index));

struct kernfs_node___old {
	union kernfs_node_id___old id;
} __attribute__((preserve_access_index));

static __always_inline __u64 kn_id(struct kernfs_node *kn)
{
	struct kernfs_node___old *old = (void *)kn;

	if (bpf_core_field_exists(old->id.ino))
		return BPF_CORE_READ(old, id.ino);
	return BPF_CORE_READ(kn, id);
}

static __always_inline __u64 cgroup_id_of(struct cgroup *cgrp)
{
	return kn_id(BPF_CORE_READ(cgrp, kn));
}

/* The cgroup that schedules @t: cpu controller on v1, v2 cgroup otherwise. */
static __always_inline __u64 task_cpu_cgid(struct task_struct *t)
{
	if (cpu_on_v1) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
		return cgroup_id_of(BPF_CORE_READ(t, cgroups, subsys[idx], cgroup));
	}
	return cgroup_id_of(BPF_CORE_READ(t, cgroups, dfl_cgrp));
}

/*
 * tp_btf programs get trusted BTF pointers: plain loads (CO-RE relocated, the
 * JIT emits guarded moves) instead of one bpf_probe_read_kernel() call per
 * field, which matters in sched_switch. raw_tp pointers need the probe reads.
 * `btf` is a literal at every call site, so only one branch is compiled in.
 */
static __always_inline __u64 task_cpu_cgid_fast(struct task_struct *t, bool btf)
{
	if (!btf)
		return task_cpu_cgid(t);
	if (cpu_on_v1) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
		return t->cgroups->subsys[idx]->cgroup->kn->id;
	}
	return t->cgroups->dfl_cgrp->kn->id;
}

/* The cgroup that accounts @t's memory. */
static __always_inline __u64 task_mem_cgid(struct task_struct *t)
{
	if (mem_on_v1) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		return cgroup_id_of(BPF_CORE_READ(t, cgroups, subsys[idx], cgroup));
	}
	return cgroup_id_of(BPF_CORE_READ(t, cgroups, dfl_cgrp));
}

/* log2 of a non-zero value. */
static __always_inline __u32 colo_log2(__u64 v)
{
	__u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

/* Histogram slot of a latency in ns; see COLO_HIST_* in colo_abi.h. The
 * userspace twin (userspace/util/hist.h) must agree: tests/bpf checks both. */
static __always_inline __u32 colo_hist_slot(__u64 ns)
{
	__u64 us = ns / 1000;
	__u32 o, sub;

	if (us == 0)
		return 0;
	o = colo_log2(us);
	if (o >= COLO_HIST_OCTAVES)
		return COLO_HIST_SLOTS - 1;
	if (o >= COLO_HIST_SUBBITS)
		sub = (us >> (o - COLO_HIST_SUBBITS)) & (COLO_HIST_SUBSLOTS - 1);
	else
		sub = (us << (COLO_HIST_SUBBITS - o)) & (COLO_HIST_SUBSLOTS - 1);
	return 1 + o * COLO_HIST_SUBSLOTS + sub;
}

/* Drop and helper-failure counters, exported as colo_bpf_events_lost_total. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COLO_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_drops SEC(".maps");

static __always_inline void colo_count_drop(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&colo_drops, &what);
	if (v)
		*v += 1;
}

/* Classes of cgroups, kept current by the agent: the big box and everything
 * below it (be), the configured system slices (system). Absent = ls. Each
 * hierarchy numbers its cgroups on its own, so the key carries the hierarchy. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, COLO_MAX_CGROUPS);
	__type(key, struct colo_class_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_class SEC(".maps");

static __always_inline __u32 colo_class_of(__u64 cgid, __u32 hierarchy)
{
	struct colo_class_key k = { .cgid = cgid, .hierarchy = hierarchy };
	__u32 *c = bpf_map_lookup_elem(&colo_class, &k);
	return c ? *c : COLO_CLASS_LS;
}

#endif /* COLO_COMMON_BPF_H */
