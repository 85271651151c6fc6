// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Memory pressure per memory cgroup: time tasks spend stalled in global
 * direct reclaim and in memcg reclaim (a cgroup at its limit), from the
 * vmscan tracepoints. Charged to the memory cgroup of the stalled task: that
 * is who waited. Also OOM kills, by the victim's memory cgroup. tp_btf with
 * raw_tp twins, as in sched.bpf.c.
 */
#include "colo_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

enum reclaim_kind { RECLAIM_DIRECT = 1, RECLAIM_MEMCG = 2 };

struct reclaim_start {
	__u64 ts;
	__u64 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, COLO_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct colo_cg_mem);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_cg_mem SEC(".maps");

/* Reclaim in progress, by thread id. LRU so that a missed end cannot leak. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct reclaim_start);
} colo_rclm_ts SEC(".maps");

static __always_inline struct colo_cg_mem *mem_stats(__u64 cgid)
{
	struct colo_cg_mem *v, zero = {};

	v = bpf_map_lookup_elem(&colo_cg_mem, &cgid);
	if (v)
		return v;
	bpf_map_update_elem(&colo_cg_mem, &cgid, &zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&colo_cg_mem, &cgid);
	if (!v)
		colo_count_drop(COLO_DROP_MEM_MAP_FULL);
	return v;
}

static __always_inline void reclaim_begin(__u64 kind)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct reclaim_start s = { .ts = bpf_ktime_get_ns(), .kind = kind };

	if (bpf_map_update_elem(&colo_rclm_ts, &tid, &s, BPF_ANY))
		colo_count_drop(COLO_DROP_MEM_MAP_FULL);
}

static __always_inline void reclaim_end(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct reclaim_start *s;
	struct colo_cg_mem *v;
	__u64 cgid, delta, now = bpf_ktime_get_ns();

	s = bpf_map_lookup_elem(&colo_rclm_ts, &tid);
	if (!s)
		return;
	if (now <= s->ts) {
		bpf_map_delete_elem(&colo_rclm_ts, &tid);
		return;
	}
	delta = now - s->ts;
	cgid = task_mem_cgid((struct task_struct *)bpf_get_current_task());
	v = mem_stats(cgid);
	if (v) {
		if (s->kind == RECLAIM_MEMCG) {
			__sync_fetch_and_add(&v->memcg_reclaim_ns, delta);
			__sync_fetch_and_add(&v->memcg_reclaim_count, 1);
		} else {
			__sync_fetch_and_add(&v->direct_reclaim_ns, delta);
			__sync_fetch_and_add(&v->direct_reclaim_count, 1);
		}
	}
	bpf_map_delete_elem(&colo_rclm_ts, &tid);
}

/* mark_victim(task, uid) since 6.6; the agent loads these programs only when
 * the kernel's BTF says so (older kernels pass a pid). */
static __always_inline void oom_victim(struct task_struct *task)
{
	struct colo_cg_mem *v = mem_stats(task_mem_cgid(task));

	if (v)
		__sync_fetch_and_add(&v->oom_kills, 1);
}

static __always_inline void forget_mem_cgroup(struct cgroup *cgrp)
{
	__u64 cgid;

	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != mem_hierarchy)
		return;
	cgid = cgroup_id_of(cgrp);
	bpf_map_delete_elem(&colo_cg_mem, &cgid);
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(colo_dr_begin_btf) { reclaim_begin(RECLAIM_DIRECT); return 0; }
SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(colo_dr_end_btf) { reclaim_end(); return 0; }
SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(colo_mr_begin_btf) { reclaim_begin(RECLAIM_MEMCG); return 0; }
SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(colo_mr_end_btf) { reclaim_end(); return 0; }
SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(colo_mrmdir_btf, struct cgroup *cgrp) { forget_mem_cgroup(cgrp); return 0; }

SEC("raw_tp/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(colo_dr_begin_raw) { reclaim_begin(RECLAIM_DIRECT); return 0; }
SEC("raw_tp/mm_vmscan_direct_reclaim_end")
int BPF_PROG(colo_dr_end_raw) { reclaim_end(); return 0; }
SEC("raw_tp/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(colo_mr_begin_raw) { reclaim_begin(RECLAIM_MEMCG); return 0; }
SEC("raw_tp/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(colo_mr_end_raw) { reclaim_end(); return 0; }
SEC("raw_tp/cgroup_rmdir")
int BPF_PROG(colo_mrmdir_raw, struct cgroup *cgrp) { forget_mem_cgroup(cgrp); return 0; }

SEC("tp_btf/mark_victim")
int BPF_PROG(colo_oom_btf, struct task_struct *task) { oom_victim(task); return 0; }
SEC("raw_tp/mark_victim")
int BPF_PROG(colo_oom_raw, struct task_struct *task) { oom_victim(task); return 0; }
