// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor of what a sched_switch program costs on this machine, measured by
 * the same kernel run-time stats as colo's own programs (colo_bench_floor):
 * an empty program, one that reads the two tasks' ids, and one that also does
 * the single per-thread hash lookup colo_switch_* does (a pid-keyed LRU hash
 * of colo_wake_ts's size), and the other per-thread store a tracer could use,
 * task storage (5.11+). Attached in that order: programs on a tracepoint run
 * in attach order, so the field reader takes the task_struct cache misses and
 * the lookups' cost is what the maps add. The rest are compared in pairs
 * (`colo_bench_floor compare`), e.g. task storage no task has, looked for at
 * every switch-in, against the field reader.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

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

/* Task storage no task has: what finding a sparse per-thread record costs at
 * every switch-in, where almost every task has none (e.g. a record written
 * only when a queued task migrates), without creating one. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct floor_val);
} floor_task_sparse SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_storage_peek, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct floor_val *v = bpf_task_storage_get(&floor_task_sparse, next, 0, 0);

	if (v)
		floor_sink += v->ts;
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

/*
 * The layout of a per-CPU state array that each CPU writes at every switch
 * and other CPUs read at wakeups (colo_cpu): colo_bench_floor layout. Packed:
 * 128-byte values in a plain array, whose values start 312 bytes into the
 * map's allocation on 6.x kernels (offsetof(struct bpf_array, value)), so
 * each entry straddles three cache lines and shares one with each neighbour;
 * the wakeup reads the class from a line the target CPU dirties at every
 * switch. Aligned: 192-byte values in a mmapable array (page-aligned values),
 * the class others read on a line of its own written only when it changes.
 */
struct floor_cpu {
	__u64 cgid, since, acct;
	__u32 cls, sib;
	__u64 a[11];
	__u64 task;
	__u32 pub, pad;
	__u64 b[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs before load */
	__type(key, __u32);
	__type(value, __u64[16]);
} floor_cpu_packed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs before load */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct floor_cpu);
} floor_cpu_aligned SEC(".maps");

static __always_inline void floor_cpu_write(struct floor_cpu *c, struct task_struct *next, bool pub)
{
	__u32 cls = next->pid ? 0 : 3;

	c->cgid = (__u64)next->cgroups;
	c->since = bpf_ktime_get_ns();
	c->cls = cls;
	c->a[8] += 1; /* the stage counters, on the second line */
	c->task = (__u64)next;
	if (pub && c->pub != cls + 1)
		c->pub = cls + 1;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_packed, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct floor_cpu *c = (void *)bpf_map_lookup_elem(&floor_cpu_packed, &cpu);

	if (c)
		floor_cpu_write(c, next, false);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wake_packed, struct task_struct *p)
{
	__u32 cpu = p->thread_info.cpu;
	struct floor_cpu *c = (void *)bpf_map_lookup_elem(&floor_cpu_packed, &cpu);

	if (c)
		floor_sink += c->since ? c->cls : 4;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_aligned, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct floor_cpu *c = bpf_map_lookup_elem(&floor_cpu_aligned, &cpu);

	if (c)
		floor_cpu_write(c, next, true);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wake_aligned, struct task_struct *p)
{
	__u32 cpu = p->thread_info.cpu;
	struct floor_cpu *c = bpf_map_lookup_elem(&floor_cpu_aligned, &cpu);

	if (c)
		floor_sink += c->pub ? c->pub - 1 : 4;
	return 0;
}

/*
 * Per-thread wake-time stores, as colo_wake_ts uses one (colo_bench_floor
 * compare): a wakeup stores the time in the thread's entry, creating it if
 * needed; a switch-in reads and clears it. Same code on different maps.
 */
#define FLOOR_WAKE_STORE(name, map, vtype)						\
SEC("tp_btf/sched_wakeup")								\
int BPF_PROG(floor_wake_##name, struct task_struct *p)					\
{											\
	__u32 pid = p->pid;								\
	vtype *v = bpf_map_lookup_elem(&map, &pid);					\
											\
	if (v) {									\
		v->ts = bpf_ktime_get_ns();						\
	} else {									\
		vtype init = { .ts = bpf_ktime_get_ns() };				\
		bpf_map_update_elem(&map, &pid, &init, BPF_NOEXIST);			\
	}										\
	return 0;									\
}											\
											\
SEC("tp_btf/sched_switch")								\
int BPF_PROG(floor_switch_##name, bool preempt, struct task_struct *prev,		\
	     struct task_struct *next)							\
{											\
	__u32 pid = next->pid;								\
	vtype *v = bpf_map_lookup_elem(&map, &pid);					\
											\
	if (v && v->ts) {								\
		floor_sink += bpf_ktime_get_ns() - v->ts;				\
		v->ts = 0;								\
	}										\
	return 0;									\
}

struct floor_ts {
	__u64 ts;
};

/* colo_wake_ts's shape: LRU hash of 65536, 32-byte value (an element spans
 * two cache lines). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct floor_val);
} floor_lru64k SEC(".maps");
FLOOR_WAKE_STORE(lru64k, floor_lru64k, struct floor_val)

/* The same with an 8-byte value: an element is one 64-byte line. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct floor_ts);
} floor_lru64k8 SEC(".maps");
FLOOR_WAKE_STORE(lru64k8, floor_lru64k8, struct floor_ts)

/* 8192 entries, 32-byte value: an eighth of the bucket array. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct floor_val);
} floor_lru8k SEC(".maps");
FLOOR_WAKE_STORE(lru8k, floor_lru8k, struct floor_val)

/* colo_wake_ts's shape since the LRU hash: 65536 slots of one cache line in a
 * mmapable (page-aligned) array, indexed by thread id modulo 65536 and
 * tagged with it (only the tag check differs from a plain array by id). */
struct floor_slot {
	__u64 ts, css, cgid;
	__u32 gen, cls, pid, pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct floor_slot);
} floor_slots SEC(".maps");

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wake_slots, struct task_struct *p)
{
	__u32 pid = p->pid, i = pid & 65535;
	struct floor_slot *v = bpf_map_lookup_elem(&floor_slots, &i);

	if (v) {
		if (v->pid != pid) {
			v->pid = pid;
			v->css = 0;
		}
		v->ts = bpf_ktime_get_ns();
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_slots, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 pid = next->pid, i = pid & 65535;
	struct floor_slot *v = bpf_map_lookup_elem(&floor_slots, &i);

	if (v && v->pid == pid && v->ts) {
		floor_sink += bpf_ktime_get_ns() - v->ts;
		v->ts = 0;
	}
	return 0;
}

/* An array indexed by thread id (pid_max entries here): no bucket, no hash. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct floor_val);
} floor_bypid SEC(".maps");
FLOOR_WAKE_STORE(bypid, floor_bypid, struct floor_val)

/*
 * A run-queue wait without any store of colo's own: the kernel keeps when a
 * task was queued (task->sched_info.last_queued, in its run queue's clock,
 * with CONFIG_SCHED_INFO, which TASK_DELAY_ACCT and SCHEDSTATS select) and
 * clears it at switch-in, after the sched_switch tracepoint. So a switch-in
 * alone can read the wait, with no wakeup program: colo_bench_floor compare
 * against floor_wake_slots,floor_switch_slots, by ns per switch.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_schedinfo, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	/* The run queue through the task's fair-class queue (`runqueues` is
	 * not in kallsyms here); the scheduler has just used all three lines. */
	struct rq *rq = next->se.cfs_rq->rq;
	__u64 q = next->sched_info.last_queued;

	if (q && rq && rq->clock > q)
		floor_sink += rq->clock - q;
	return 0;
}

/*
 * What last_queued misses (colo_bench_floor migrations): a queued task that
 * load balancing moves to another CPU is dequeued first, which adds its wait
 * so far to run_delay and clears last_queued; the new CPU queues it afresh.
 * Such a move is a migration of a task that is on a run queue
 * (TASK_ON_RQ_MIGRATING, 2); a wakeup's choice of CPU happens before it is
 * queued (on_rq 0). Counts both, and the switches, over one run.
 */
__u64 floor_switches = 0, floor_migrations = 0, floor_queued_moves = 0;

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(floor_migrate, struct task_struct *p, int dest_cpu)
{
	__sync_fetch_and_add(&floor_migrations, 1);
	if (p->on_rq == 2)
		__sync_fetch_and_add(&floor_queued_moves, 1);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_count_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (next->pid)
		__sync_fetch_and_add(&floor_switches, 1);
	return 0;
}

/* The clock colo's switch program reads once per run (bpf_ktime_get_ns),
 * against the run queue's clock the scheduler has just updated. */
SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_ktime, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	floor_sink += bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_rqclock, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	struct rq *rq = next->se.cfs_rq->rq;

	if (rq)
		floor_sink += rq->clock;
	return 0;
}

/*
 * The least a program does for the first of colo's signals alone, per-cgroup
 * run-queue latency histograms, with nothing else colo computes (no
 * preemptions, classes, CPU time, SMT or urgent events): the wait from
 * sched_info, next's cpu cgroup through the task's css_set (the v1 cpu
 * controller's here; v2's default cgroup elsewhere), and one increment in a
 * per-CPU hash of log2 histograms keyed by cgroup. What ns/run a signal plane
 * cannot get below here.
 */
struct floor_hist {
	__u64 slots[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct floor_hist);
} floor_hist SEC(".maps");

/* The wait of @next switching in, from sched_info, and its cpu cgroup
 * through the task's css_set (the v1 cpu controller's where it is mounted
 * apart, else v2's default cgroup); false when it did not wait. */
static __always_inline bool floor_wait_cgid(struct task_struct *next, __u64 *lat, __u64 *cgid)
{
	struct rq *rq = next->se.cfs_rq->rq;
	__u64 q = next->sched_info.last_queued;
	int cpu_id = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);

	if (!q || !rq || rq->clock < q || !next->pid)
		return false;
	*lat = rq->clock - q;
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, cpu_cgrp_id) &&
	    next->cgroups->subsys[cpu_id]->cgroup != next->cgroups->dfl_cgrp)
		*cgid = next->cgroups->subsys[cpu_id]->cgroup->kn->id;
	else
		*cgid = next->cgroups->dfl_cgrp->kn->id;
	return true;
}

/* log2 of a wait in us, as a 32-slot histogram's index. */
static __always_inline __u32 floor_slot(__u64 lat)
{
	__u32 slot = 0;
	__u64 us;

	for (us = lat / 1000; us && slot < 31; us >>= 1)
		slot++;
	return slot;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_least, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct floor_hist *h, zero = {};
	__u64 lat, cgid;

	if (!floor_wait_cgid(next, &lat, &cgid))
		return 0;
	h = bpf_map_lookup_elem(&floor_hist, &cgid);
	if (!h) {
		bpf_map_update_elem(&floor_hist, &cgid, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&floor_hist, &cgid);
		if (!h)
			return 0;
	}
	h->slots[floor_slot(lat) & 31]++;
	return 0;
}

/* A bound below any such program: the same reads (the wait and next's cgroup)
 * and one increment of a per-CPU array's histogram, by no cgroup at all. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct floor_hist);
} floor_hist_cpu SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_reads, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct floor_hist *h;
	__u64 lat, cgid;
	__u32 zero = 0;

	if (!floor_wait_cgid(next, &lat, &cgid))
		return 0;
	h = bpf_map_lookup_elem(&floor_hist_cpu, &zero);
	if (!h)
		return 0;
	h->slots[floor_slot(lat) & 31] += 1;
	h->slots[0] += cgid & 1; /* keeps the cgroup read */
	return 0;
}

/* prev's state, as a switch program reads it to tell a preempted task (still
 * runnable) from one that blocked. */
SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch_prevstate, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	floor_sink += prev->__state;
	return 0;
}
