/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ABI shared by the BPF programs and the C++ agent: map keys, map values
 * and ring-buffer records. Only __u32/__u64 fields, explicit padding, and a
 * comment on every field. tests/unit/abi_test.cpp static_asserts every size
 * and offset; change a layout only together with that test, and rename the
 * map when you do (pinned maps of the old layout are then left alone).
 */
#ifndef COLO_ABI_H
#define COLO_ABI_H

#ifdef __BPF__
/* vmlinux.h provides the __u32/__u64 types on the BPF side. */
#else
#include <linux/types.h>
#endif

/* Workload classes. The order is part of the ABI (array indexes). */
enum colo_class {
	COLO_CLASS_LS = 0,     /* latency-sensitive: everything not classified otherwise */
	COLO_CLASS_BE = 1,     /* best-effort: inside the big box */
	COLO_CLASS_SYSTEM = 2, /* configured system slices */
	COLO_CLASS_IDLE = 3,   /* the idle task (per-CPU state only) */
	COLO_CLASS_MAX = 4,
};

/* Key of colo_class (value: __u32 enum colo_class). Cgroups absent are ls. */
struct colo_class_key {
	__u64 cgid;          /* cgroup id (kernfs id = inode of the directory) */
	__u32 hierarchy;     /* 0 = v2, else the v1 hierarchy id from /proc/cgroups */
	__u32 __pad;         /* zero */
};

/*
 * Run-queue latency histogram: 4 sub-slots per power of two of microseconds.
 * Slot 0 holds [0, 1us); slot 1+4*o+s (o>=0) holds [2^o * (1 + s/4), 2^o * (1 + (s+1)/4)) us,
 * except that octaves 0 and 1 have fewer distinct values (integer us), so
 * their unused sub-slots stay empty. The last slot collects everything above.
 */
#define COLO_HIST_OCTAVES 27 /* up to 2^27 us = 134 s */
#define COLO_HIST_SUBBITS 2
#define COLO_HIST_SUBSLOTS (1 << COLO_HIST_SUBBITS)
#define COLO_HIST_SLOTS (1 + COLO_HIST_OCTAVES * COLO_HIST_SUBSLOTS) /* 109 */

/* Value of colo_cg_sched, keyed by the cgroup id (kernfs id = inode) of the
 * cgroup that schedules the task: the cpu controller's cgroup on v1/hybrid
 * hosts, the v2 cgroup on v2 hosts. Updated with atomic adds, not per-CPU,
 * so the map's size does not grow with the number of CPUs. */
struct colo_cg_sched {
	__u64 rq_slots[COLO_HIST_SLOTS];   /* run-queue latency histogram, see COLO_HIST_* */
	__u64 __pad0;                      /* keeps the counters below 16-byte aligned */
	__u64 __reserved;                  /* zero (the sample count is the sum of rq_slots) */
	__u64 rq_sum_ns;                   /* sum of latency samples, ns */
	__u64 preempted_by[COLO_CLASS_MAX];/* times a runnable task of this cgroup lost its
	                                      CPU, by class of the task that took it */
	__u64 smt_ns[COLO_CLASS_MAX];      /* ns an LS task of this cgroup ran while the SMT
	                                      sibling ran a task of the indexed class */
	__u64 run_ns;                      /* CPU time of this cgroup's tasks, ns */
	__u64 urgent_events;               /* urgent events emitted for this cgroup */
};

/* Key of colo_aggr: who preempted whom, between two cgroups. */
struct colo_aggr_key {
	__u64 victim_cgid;   /* cgroup of the task that lost the CPU */
	__u64 aggressor_cgid;/* cgroup of the task that took it */
};

/* Value of colo_aggr (LRU: the busiest pairs stay). */
struct colo_aggr_val {
	__u64 count;         /* preemptions of victim by aggressor */
	__u64 last_ns;       /* CLOCK_MONOTONIC of the last one */
};

/*
 * Value of colo_cpu (array, index = CPU): the per-CPU state of the switch
 * program, for per-class CPU time, SMT accounting and the batches that keep
 * most switches off shared map entries. Written only by the CPU itself in
 * sched_switch (and, rarely, by cgroup_attach_task for the task running
 * there), read by its sibling, and its pub_cls by any CPU that wakes a task
 * onto it. It batches the CPU time of one cgroup (added to colo_cg_sched when
 * another cgroup runs, or after COLO_RUN_FLUSH_NS) and the preemptions of one
 * pair; readers add what is pending.
 *
 * Laid out by how often a switch touches a field, as each cache line a
 * switch touches costs: a CPU that comes back from idle (a halted vCPU, whose
 * caches the host used meanwhile) finds them cold, 25-40 ns each on the
 * 2-vCPU VM of tests/bench/RESULTS.md. A common switch reads and writes the
 * first two lines only; the class ring's line when the class running
 * changes; the rest on rarer paths. (Until colo_cpu replaced it,
 * colo_cpu_state spread these over three lines, and per-class CPU time was
 * a per-CPU array, colo_class_ns, two more.)
 */
#define COLO_CLS_RING 6
struct colo_cpu_state {
	/* Line 0: every switch. */
	__u64 cgid;          /* cgroup id of the task running now (0 = idle) */
	__u64 since_ns;      /* when it started running */
	__u64 task;          /* kernel address of the task running now (0 = unknown) */
	__u32 pid;           /* thread id of the task running now (0 = idle) */
	__u8 cls;            /* enum colo_class of the task running now */
	__u8 cls_cls;        /* class cache: the class of cls_cgid */
	__u8 ring_cls;       /* the class of the class ring's newest entry + 1 (0 = empty) */
	__u8 __pad0;         /* zero */
	__u64 pending_run_ns;/* CPU time of run_cgid not yet added to its run_ns */
	__u64 run_cgid;      /* the cgroup pending_run_ns belongs to (0 = none) */
	/* Waits from sched_info: the switch program's clock is the run queue's
	 * (the scheduler has just updated it), turned into CLOCK_MONOTONIC by
	 * an offset taken from bpf_ktime_get_ns() every COLO_CLOCK_SYNC_NS, as
	 * that call costs more than the rest of a switch on some hosts. */
	__u64 clk_off;       /* CLOCK_MONOTONIC minus rq clock (mod 2^64) */
	__u64 clk_at;        /* rq clock when clk_off was taken (0 = never) */
	/* Line 1: every switch. */
	__u64 class_ns[COLO_CLASS_MAX]; /* CPU time of each class on this CPU, ns */
	__u64 cls_cgid;      /* class cache: the last cgroup classified on this CPU */
	__u64 rq;            /* kernel address of this CPU's run queue (0 = not learned) */
	__u64 stage_due;     /* run-queue samples staged in colo_stage: flush them at
	                        the first switch after this time, the first sample's
	                        + COLO_RUN_FLUSH_NS (1: at the next switch, a sample
	                        waits; 0: nothing staged) */
	__u32 cls_gen;       /* class cache: class_gen when cls_cls was read */
	__u32 pre_count;     /* preemptions pending (0 = none) */
	/* Line 2: waits read from sched_info (no wakeup program): the classes
	 * that ran here, each from when it started, in the run queue's clock, a
	 * ring written at every change of class. An urgent wait looks up what it
	 * queued behind in it. */
	__u8 cls_head;       /* the newest entry */
	__u8 cls_ring[COLO_CLS_RING];      /* enum colo_class */
	__u8 __pad2;         /* zero */
	__u64 cls_since[COLO_CLS_RING];    /* rq clock when it started (0 = empty) */
	__u64 __pad3;        /* zero */
	/* Line 3: SMT interference, and the preemptions of one victim cgroup by
	 * one aggressor cgroup batched like the CPU time: added to
	 * colo_cg_sched.preempted_by and colo_aggr when another pair comes, or
	 * after COLO_RUN_FLUSH_NS (readers add pre_count: add_pending_preemptions). */
	__u64 acct_ns;       /* SMT interference settled up to this time */
	__u32 sibling;       /* SMT sibling CPU, or COLO_NO_SIBLING */
	__u32 pre_cls;       /* enum colo_class of the aggressor */
	__u64 pre_since_ns;  /* when the first of them was counted */
	__u64 pre_victim;    /* cgroup of the preempted tasks */
	__u64 pre_aggr;      /* cgroup of the tasks that took their CPU (0 = idle) */
	__u64 __pad4[3];     /* zero */
	/* Line 4, its own: read by other CPUs at every wakeup onto this one
	 * (waits from wakeup programs), written only when the class running
	 * here changes. */
	__u32 pub_cls;       /* class running now + 1 (0 = no switch seen yet) */
	__u32 __pad5[15];    /* zero */
};
/* 320 bytes, in an mmapable array (page-aligned values): no two CPUs' entries
 * share a cache line. */
#define COLO_RUN_FLUSH_NS (10ull * 1000 * 1000)
#define COLO_CLOCK_SYNC_NS (10ull * 1000 * 1000)
#define COLO_NO_SIBLING 0xffffffffu

/*
 * Value of colo_stage (mmapable array, index = CPU): the run-queue samples of
 * one cgroup staged on a CPU, so that a sample touches no shared map entry. A
 * sample is one increment of its histogram slot's count; the slots in use are
 * listed in first-use order, so that a flush adds only those to
 * colo_cg_sched. Flushed at the start of a switch, when another cgroup's
 * sample came (it waits as the pending sample), when a count would overflow,
 * or after COLO_RUN_FLUSH_NS (colo_cpu.stage_due says when), by a global
 * subprogram the BPF verifier checks once, not on every path of the switch
 * program. Written only by its CPU in sched_switch; readers add what is
 * staged (used[0..n) with their counts, and the pending sample).
 * Its 4-entry predecessor in colo_cpu_state flushed at one sample in six
 * under `perf bench sched messaging`: the waits there span more slots.
 * A sample of a wait under 28 us (slots 0-19) touches the first cache line
 * only, as the count of its slot shares it with the fields every sample
 * writes (colo_rq_stage, which colo_stage replaced, kept them apart).
 */
#define COLO_STAGE_LEN 112   /* COLO_HIST_SLOTS, rounded up to 8 */
struct colo_rq_stage {
	/* Line 0: every sample. */
	__u64 cgid;          /* cgroup whose samples are staged (0 = none) */
	__u64 sum_ns;        /* staged total wait (adds to rq_sum_ns) */
	__u32 n;             /* entries of used[] in use */
	__u32 pend_slot;     /* the pending sample's histogram slot */
	__u16 count[COLO_STAGE_LEN];  /* samples per histogram slot (adds to rq_slots);
	                                 0 for every slot not in used[0..n) */
	__u64 pend_cgid;     /* a sample that found the stage due for a flush (another
	                        cgroup's, or its count full): staged after the flush at
	                        this CPU's next switch (0 = none) */
	__u64 pend_ns;       /* the pending sample's wait */
	__u64 urg_cgid;      /* the cgroup of the last urgent event on this CPU, or of the
	                        last one the rate limit held back (0 = none) */
	__u64 urg_last_ns;   /* ... when that event was emitted: a one-entry cache of
	                        colo_urg_rl, so that a wait held back by the rate limit
	                        costs no map lookup */
	__u8 used[COLO_STAGE_LEN];    /* histogram slots with a count, in first-use order */
	__u64 __pad[7];      /* zero: 448 bytes, no two CPUs' entries share a cache line */
};

/* Memory-pressure value of colo_cg_mem, keyed by the memory controller's
 * cgroup id (v1 memory hierarchy, or v2). */
struct colo_cg_mem {
	__u64 direct_reclaim_ns;  /* ns tasks of this cgroup stalled in global direct reclaim */
	__u64 memcg_reclaim_ns;   /* ns stalled reclaiming their memcg (limit hit) */
	__u64 direct_reclaim_count; /* direct reclaim episodes */
	__u64 memcg_reclaim_count;  /* memcg reclaim episodes */
	__u64 oom_kills;            /* tasks of this cgroup chosen by the OOM killer */
};

/* Key of colo_net: egress per socket cgroup (v2 id) and interface. */
struct colo_net_key {
	__u64 cgid;          /* v2 cgroup id of the sending socket (0 = no socket) */
	__u32 ifindex;       /* egress interface */
	__u32 __pad;         /* zero */
};

/* Value of colo_net (per-CPU hash). */
struct colo_net_val {
	__u64 bytes;         /* bytes (skb->len) */
	__u64 packets;       /* packets */
};

/*
 * Egress limiting. On an interface where colo limits BE egress, colo owns the
 * root qdisc: an HTB with handle COLO_HTB_MAJOR: whose default sends
 * unclassified packets through its direct queue, unshaped. colo_egress puts BE
 * packets into a leaf class by setting skb->priority to its class id
 * (HTB takes skb->priority as the class id when it names one of its leaves).
 */
#define COLO_HTB_MAJOR 0xc01u          /* qdisc handle c01: */
#define COLO_HTB_BOX_MINOR 1u          /* c01:1  the box: rate = ceil = the BE limit */
#define COLO_HTB_BE_MINOR 2u           /* c01:2  BE cgroups without a limit of their own */
#define COLO_HTB_CG_MINOR_BASE 16u     /* c01:16+i  the i-th BE cgroup with its own limit */
#define COLO_HTB_CLASSID(minor) ((COLO_HTB_MAJOR << 16) | (minor))

/* Value of colo_net_if, keyed by ifindex (__u32): 1 where colo's HTB is the
 * root qdisc and BE packets are to be classified into it. Absent or 0: count only. */

/* Value of colo_net_cgcls, keyed by v2 cgroup id (__u64): the minor of the
 * HTB leaf of a BE cgroup with a limit of its own (absent: COLO_HTB_BE_MINOR). */

/* Key of colo_net_class: egress per interface and class of the sending
 * socket's cgroup (value: struct colo_net_val, per-CPU). The agent's egress
 * controller reads the LS entries of the limited interfaces every few ms. */
struct colo_net_class_key {
	__u32 ifindex;       /* egress interface */
	__u32 cls;           /* enum colo_class of the socket's v2 cgroup */
};

/* Ring-buffer record: an LS task waited longer than the urgent threshold. */
struct colo_urgent_event {
	__u64 ts_ns;         /* bpf_ktime_get_ns() when the task got the CPU */
	__u64 cgid;          /* its cgroup (same id space as colo_cg_sched) */
	__u64 latency_ns;    /* how long it waited */
	__u32 pid;           /* thread id */
	__u32 cpu;           /* CPU it ran on */
	__u32 prev_cls;      /* class of the task it took the CPU from (the
			      * one in its way at the end; COLO_CLASS_IDLE) */
	__u32 queued_cls;    /* what it queued behind when it became runnable
			      * (in its way at the start): preempted, the class
			      * that took its CPU; woken, the class running on
			      * the CPU it was woken onto (waits from
			      * sched_info: the class running on its CPU when
			      * it was queued there); COLO_CLASS_MAX: not known
			      * (from sched_info also: queued first on another
			      * CPU, or before the ring's oldest entry) */
};

/* Ring-buffer record (colo_be_wake): a BE task got a CPU while the agent's
 * fast path slept (be_wake_wanted, set while BE ran next to nothing over its
 * fast window): the agent samples LS demand every controller.fast_interval again
 * from now, instead of at its next tick. */
struct colo_be_wake_event {
	__u64 ts_ns;         /* CLOCK_MONOTONIC */
	__u32 pid;           /* the BE thread */
	__u32 cpu;           /* where it got the CPU */
};

/* Indexes of colo_drops (per-CPU array of __u64): every drop and helper
 * failure on the kernel side is counted here and exported. */
enum colo_drop {
	COLO_DROP_RINGBUF_FULL = 0,  /* urgent event (or BE wake) not delivered */
	COLO_DROP_SCHED_MAP_FULL,    /* colo_cg_sched update failed */
	COLO_DROP_TASK_STORAGE,      /* a pending wait lost to a thread sharing its colo_wake_ts slot */
	COLO_DROP_MEM_MAP_FULL,      /* colo_cg_mem or reclaim-start update failed */
	COLO_DROP_NET_MAP_FULL,      /* colo_net update failed */
	COLO_DROP_AGGR_MAP_FULL,     /* colo_aggr update failed */
	COLO_DROP_MISSED_SWITCH,     /* a switch whose outgoing task is not the one
				      * the last seen switch put on the CPU */
	COLO_DROP_NO_QUEUED_TIME,    /* waits read from sched_info: a task switched in
				      * with no time queued (its wait is lost) */
	COLO_DROP_MAX,
};

/* Runtime knobs in the programs' .data (mmapped by the agent, changeable
 * while attached). Kept here so both sides agree on the meaning. */
#define COLO_DEFAULT_URGENT_NS (5ull * 1000 * 1000)        /* 5 ms */
#define COLO_DEFAULT_URGENT_INTERVAL_NS (10ull * 1000 * 1000) /* per cgroup per CPU */

#endif /* COLO_ABI_H */
