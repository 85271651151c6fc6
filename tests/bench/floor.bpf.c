// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor of what a sched_switch program costs on this machine, measured by
 * the same kernel run-time stats as colo's own programs (colo_bench_floor):
 * an empty program, one that reads the two tasks' ids, and one that also does
 * the single per-thread hash lookup colo_switch_* does (a pid-keyed LRU hash
 * of colo_wake_ts's size), and the other per-thread store a tracer could use,
 * task storage (5.11+). Attached in that order: programs on a tracepoint run
 * in attach order, so the field reader takes the task_struct cache misses and
 * the lookups' cost is what the maps add.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 floor_sink = 0;

struct floor_val {
	__u64 ts, a, b;
	__u32 c, d;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct floor_val);
} floor_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct floor_val);
} floor_task SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_empty, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_fields, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	floor_sink += prev->pid + next->pid;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_lookup, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 pid = next->pid;
	struct floor_val *v = bpf_map_lookup_elem(&floor_map, &pid);

	if (v) {
		floor_sink += v->ts;
		v->ts = 0;
	} else {
		struct floor_val init = {};

		bpf_map_update_elem(&floor_map, &pid, &init, BPF_NOEXIST);
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_storage, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct floor_val *v = bpf_task_storage_get(&floor_task, next, 0,
						   BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (v) {
		floor_sink += v->ts;
		v->ts = 0;
	}
	return 0;
}

/*
 * The least a run-queue latency tracer can do, for the pipe floor
 * (colo_bench_floor pipe): a timestamp per wakeup into a pid-keyed hash, and
 * at switch-in a lookup and a delete (runqlat's mechanism without its
 * histogram or filters). And the same two tracepoints with empty programs:
 * what attaching anything costs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} floor_start SEC(".maps");

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wake_empty, struct task_struct *p)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_empty, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wake_store, struct task_struct *p)
{
	__u32 pid = p->pid;
	__u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&floor_start, &pid, &ts, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_take, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 pid = next->pid;
	__u64 *tsp = bpf_map_lookup_elem(&floor_start, &pid);

	if (tsp) {
		floor_sink += bpf_ktime_get_ns() - *tsp;
		bpf_map_delete_elem(&floor_start, &pid);
	}
	return 0;
}
