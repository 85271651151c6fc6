// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Scheduler signals per cgroup: run-queue latency histograms, who preempted
 * whom, SMT-sibling interference, per-class CPU time, and urgent events when
 * an LS task waited too long.
 *
 * Two program sets do the same work: tp_btf (plain loads through trusted BTF
 * pointers) and raw_tp (probe reads) for kernels where BTF tracepoints cannot
 * attach. The agent autoloads exactly one of them.
 */
#include "colo_common.bpf.h"

#define TASK_RUNNING 0
#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the agent before load. */
const volatile bool smt_enabled = false;
/* Waits from the kernel's own sched_info (see queued_wait): no wakeup
 * program runs. False: from colo's wakeup programs (mark_runnable). */
const volatile bool wait_from_sched_info = false;

/* The sched_switch tracepoint passes prev's state as its fourth argument
 * (5.18+; the agent reads it in the kernel's BTF): see prev_runnable. */
const volatile bool switch_prev_state = false;

/* Changed by the agent at run time (mmapped .data). */
volatile __u64 urgent_threshold_ns = COLO_DEFAULT_URGENT_NS;
volatile __u64 urgent_interval_ns = COLO_DEFAULT_URGENT_INTERVAL_NS;
/* The agent's own process (its thread group id as the kernel numbers it, in
 * the initial pid namespace), set by colo_learn_self before attach: its
 * threads' waits are measured like any other, but raise no urgent events.
 * The agent is not the LS it protects, and reacting to its own waits would
 * make it cut the box for its own scrapes and polls: its threads count as
 * system work (task_class). 0: none. (.bss) */
volatile __u32 quiet_tgid = 0;
/* Bumped by the agent after each change of colo_class: per-CPU class caches
 * older than this look the class up again. */
volatile __u32 class_gen = 1;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, COLO_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct colo_cg_sched);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_cg_sched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct colo_aggr_key);
	__type(value, struct colo_aggr_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_aggr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs before load */
	/* Mmapable only for its page-aligned values: see struct colo_cpu_state. */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct colo_cpu_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_cpu SEC(".maps");

/* Run-queue samples staged per CPU (see struct colo_rq_stage, in colo_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs before load */
	/* Mmapable only for its page-aligned values: no two CPUs share a line. */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct colo_rq_stage);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_stage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} colo_events SEC(".maps");

/* A BE task got a CPU while the agent's fast path slept (see
 * be_wake_wanted): one record per wake, so a page is plenty. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} colo_be_wake SEC(".maps");

/* Set by the agent while its fast path sleeps (BE ran next to nothing over
 * its fast window): the first BE task to get a CPU clears it and wakes the
 * agent through colo_be_wake. Read only at switches to BE. */
volatile __u32 be_wake_wanted = 0;

/* Last urgent event per cgroup on this CPU (rate limit). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} colo_urg_rl SEC(".maps");

/*
 * Per thread: when it last became runnable (0: it has been given a CPU
 * since), and its cpu cgroup as read at an earlier switch-in.
 *
 * A direct-mapped table indexed by thread id modulo its size, the thread id
 * kept as a tag: a wakeup and a switch-in each touch one cache line of it,
 * with no hash, bucket or lock. A pid-keyed LRU hash, which colo used before,
 * cost 1.7-2.1x as much per wakeup and switch-in here (colo_bench_floor
 * compare, tests/bench/RESULTS.md): its bucket array and its elements are
 * cold in the caches on a busy node; libbpf-tools runqlat's update and delete
 * per wakeup take the bucket lock as well. The size (COLO_WAKE_SLOTS) covers every
 * thread id where pid_max is 65536 or less (this VM: 32768). Above it, two
 * threads whose ids are equal modulo the size share a slot: only a wakeup
 * that finds the other thread's wait still pending loses one (counted as
 * COLO_DROP_TASK_STORAGE), and a switch-in that finds the other thread's tag
 * reads its cgroup the slow way. Two such threads on two CPUs at the same
 * instant can tear an entry into one wrong sample: neither is worth a lock.
 *
 * The cgroup cache saves the chain task->cgroups->subsys[cpu]->cgroup->kn->id
 * (four dependent loads, or probe reads on raw_tp) at most switch-ins. It is
 * valid while the task's css_set pointer is the one it was read through and no
 * migration happened since (cgroup_gen): a css_set never changes its cgroups,
 * and a freed one whose address is reused can only be reached by a migration
 * (which bumps cgroup_gen) or by a new task (whose entry wakeup_new resets).
 */
struct colo_wake {
	__u64 ts;
	__u64 css;  /* task->cgroups when cgid was read; 0: not read */
	__u64 cgid;
	__u32 gen;  /* cgroup_gen when cgid was read */
	/* What it queued behind when it became runnable: preempted, the class
	 * of the task that took its CPU; woken, the class running on the CPU it
	 * was woken onto (COLO_CLASS_IDLE: none; COLO_CLASS_MAX: not known). */
	__u32 queued_cls;
	__u32 pid;  /* the thread this slot holds (0: none) */
	/* Waits from sched_info: the thread's sched_info.pcount and run_delay
	 * as its last switch-in left them (rd_ok: known), so that the next one
	 * finds the part of a wait a migration moved into run_delay. */
	__u32 rd_ok;
	__u64 rd;
	__u32 pcount;
	__u32 __pad[3]; /* one cache line per slot: threads with neighbouring ids
			 * on two CPUs do not share one */
};

#define COLO_WAKE_SLOTS 65536 /* a power of two */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COLO_WAKE_SLOTS);
	/* Mmapable only for its page-aligned values: a slot is one cache line. */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct colo_wake);
} colo_wake_ts SEC(".maps");

/* The slot of thread @pid, if it holds that thread. */
static __always_inline struct colo_wake *wake_slot(__u32 pid)
{
	__u32 i = pid & (COLO_WAKE_SLOTS - 1);
	struct colo_wake *w = bpf_map_lookup_elem(&colo_wake_ts, &i);

	return w && w->pid == pid ? w : 0;
}

/* Bumped by every task migration between cgroups (any hierarchy). */
volatile __u32 cgroup_gen = 0;

/* Bumped by every cgroup created, removed or renamed (any hierarchy): the
 * agent walks the hierarchies again only when it moved. (.bss) */
volatile __u32 tree_gen = 0;

/* A zeroed value to create colo_cg_sched entries from (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct colo_cg_sched);
} colo_sched_zero SEC(".maps");

/* Kernels before 5.14 named task_struct::__state 'state'. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t, bool btf)
{
	if (bpf_core_field_exists(t->__state))
		return btf ? t->__state : BPF_CORE_READ(t, __state);
	return btf ? ((struct task_struct___pre514 *)t)->state
		   : BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/*
 * Whether @prev, switching out, stays runnable: preempted, or not blocked
 * (its state TASK_RUNNING: a signal came before it could sleep). The
 * tracepoint's own prev_state argument where the kernel passes it (@ctx[3]):
 * what __schedule decided, where prev's __state may already have been
 * changed by a waker on another CPU; else that __state.
 */
static __always_inline bool prev_runnable(__u64 *ctx, bool preempt, struct task_struct *prev,
					  bool btf)
{
	if (preempt)
		return true;
	if (switch_prev_state)
		return (__u32)ctx[3] == TASK_RUNNING;
	return task_state(prev, btf) == TASK_RUNNING;
}

/* The CPU @t is on (or queued on). */
static __always_inline __u32 task_cpu_of(struct task_struct *t, bool btf)
{
	return btf ? t->thread_info.cpu : BPF_CORE_READ(t, thread_info.cpu);
}

static __always_inline struct colo_cg_sched *sched_stats(__u64 cgid)
{
	struct colo_cg_sched *v;
	__u32 zero = 0;

	v = bpf_map_lookup_elem(&colo_cg_sched, &cgid);
	if (v)
		return v;
	v = bpf_map_lookup_elem(&colo_sched_zero, &zero);
	if (!v)
		return 0;
	/* EEXIST from a racing CPU is fine: look up what it created. */
	bpf_map_update_elem(&colo_cg_sched, &cgid, v, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&colo_cg_sched, &cgid);
	if (!v)
		colo_count_drop(COLO_DROP_SCHED_MAP_FULL);
	return v;
}

/* The entry of @cgid if it exists (flushes must not re-create the entry of a
 * cgroup removed since its samples were staged). */
static __always_inline struct colo_cg_sched *sched_stats_existing(__u64 cgid)
{
	return bpf_map_lookup_elem(&colo_cg_sched, &cgid);
}

/* The class of @cgid through the CPU's one-entry cache. */
static __always_inline __u32 class_cached(struct colo_cpu_state *cs, __u64 cgid)
{
	__u32 gen = class_gen, cls;

	if (cs->cls_cgid == cgid && cs->cls_gen == gen)
		return cs->cls_cls & (COLO_CLASS_MAX - 1);
	cls = colo_class_of(cgid, cpu_hierarchy) & (COLO_CLASS_MAX - 1);
	cs->cls_cls = cls;
	cs->cls_cgid = cgid;
	cs->cls_gen = gen;
	return cls;
}

/* Adds the staged run-queue samples to their cgroup's entry (if it still
 * exists) and empties the stage: only the slots in use are visited. */
static __always_inline void flush_stage(struct colo_rq_stage *sg)
{
	struct colo_cg_sched *st;
	__u32 i, n = sg->n, slot;

	if (!n)
		return;
	st = sched_stats_existing(sg->cgid);
	for (i = 0; i < COLO_HIST_SLOTS; i++) {
		if (i >= n)
			break;
		slot = sg->used[i];
		if (slot >= COLO_HIST_SLOTS)
			continue;
		if (st)
			__sync_fetch_and_add(&st->rq_slots[slot], sg->count[slot]);
		sg->count[slot] = 0;
	}
	if (st)
		__sync_fetch_and_add(&st->rq_sum_ns, sg->sum_ns);
	sg->n = 0;
	sg->sum_ns = 0;
	sg->cgid = 0;
}

/*
 * flush_stage() for CPU @cpu's stage, as a global subprogram: the verifier
 * checks its loop once on its own, not again on every path of the switch
 * program that reaches it (those paths multiplied the loop's instructions
 * past the verifier's limit, E2BIG). Called only when a flush is due.
 */
__noinline int colo_flush_stage(__u32 cpu)
{
	struct colo_rq_stage *sg = bpf_map_lookup_elem(&colo_stage, &cpu);

	if (sg)
		flush_stage(sg);
	return 0;
}

/* One run-queue sample of @cgid in histogram slot @slot, staged on this CPU
 * (state @cs, stage @sg): one increment. A sample the stage cannot take now
 * (another cgroup's, or its slot's count full) is left pending for
 * settle_stage, at the next switch. */
static __always_inline void stage_sample(struct colo_cpu_state *cs, struct colo_rq_stage *sg,
					 __u64 cgid, __u32 slot, __u64 lat, __u64 now)
{
	__u32 n;
	__u16 c;

	if (slot >= COLO_HIST_SLOTS)
		return;
	if (sg->n && (sg->cgid != cgid || sg->count[slot] == 0xffff)) {
		if (sg->pend_cgid)
			return; /* not reached: every switch settles before it stages */
		sg->pend_cgid = cgid;
		sg->pend_slot = slot;
		sg->pend_ns = lat;
		cs->stage_due = 1;
		return;
	}
	if (!sg->n) {
		/* The entry exists before anything is staged for it. */
		if (!sched_stats(cgid))
			return;
		sg->cgid = cgid;
		cs->stage_due = now + COLO_RUN_FLUSH_NS; /* the first sample's time + the interval */
	}
	c = sg->count[slot];
	if (!c) {
		n = sg->n;
		if (n >= COLO_HIST_SLOTS)
			return; /* not reached: n counts distinct slots */
		sg->used[n] = slot;
		sg->n = n + 1;
	}
	sg->count[slot] = c + 1;
	sg->sum_ns += lat;
}

/* At the start of a switch on CPU @cpu (state @cs, stage @sg): flushes the
 * stage when it is due (a sample is pending, or its first is older than
 * COLO_RUN_FLUSH_NS), then stages the pending sample. cs->stage_due says
 * when, so that a switch with nothing due does not touch the stage. */
static __always_inline void settle_stage(struct colo_cpu_state *cs, struct colo_rq_stage *sg,
					 __u32 cpu, __u64 now)
{
	__u64 due = cs->stage_due, cgid;

	if (!due || now <= due)
		return;
	cgid = sg->pend_cgid;
	colo_flush_stage(cpu);
	cs->stage_due = 0;
	if (cgid) {
		sg->pend_cgid = 0;
		stage_sample(cs, sg, cgid, sg->pend_slot, sg->pend_ns, now);
	}
}

/* Remember when thread @pid became runnable, behind a task of class
 * @queued_cls; @fresh: a new task (no cached cgroup). */
static __always_inline void mark_runnable_pid(__u32 pid, __u64 now, bool fresh, __u32 queued_cls)
{
	__u32 i = pid & (COLO_WAKE_SLOTS - 1);
	struct colo_wake *w = bpf_map_lookup_elem(&colo_wake_ts, &i);

	if (!w)
		return;
	if (w->pid != pid) {
		/* Another thread's slot (or none's): take it over. */
		if (w->pid && w->ts)
			colo_count_drop(COLO_DROP_TASK_STORAGE); /* its pending wait is lost */
		w->pid = pid;
		fresh = true;
	}
	w->ts = now;
	w->queued_cls = queued_cls;
	if (fresh)
		w->css = 0; /* a new thread, or a reused id: not the old cgroup */
}

static __always_inline void mark_runnable(struct task_struct *p, bool btf, __u64 now, bool fresh,
					  __u32 queued_cls)
{
	mark_runnable_pid(btf ? p->pid : BPF_CORE_READ(p, pid), now, fresh, queued_cls);
}

/*
 * The class a running task counts as: its cgroup's, except that kernel
 * threads (they live in the root cgroup, which is LS by default) and the
 * agent itself (see quiet_tgid) are system work. Their CPU time is then held
 * by the system reserve instead of being LS demand beside the box, and their
 * waits raise no urgent event. Per cgroup they are measured as any other.
 */
static __always_inline __u32 task_class(__u32 cgroup_cls, __u32 flags, __u32 tgid)
{
	if (cgroup_cls != COLO_CLASS_LS)
		return cgroup_cls;
	if ((flags & PF_KTHREAD) || (quiet_tgid && tgid == quiet_tgid))
		return COLO_CLASS_SYSTEM;
	return cgroup_cls;
}

/* Makes @cls what other CPUs see running here: a write only when it changed,
 * so that their reads hit a cache line this CPU does not keep dirtying. */
static __always_inline void publish_class(struct colo_cpu_state *cs, __u32 cls)
{
	if (cs->pub_cls != cls + 1)
		cs->pub_cls = cls + 1;
}

/* The class running on @cpu now, as its last switch cached it
 * (COLO_CLASS_MAX: no switch seen there yet). Another CPU's entry is read
 * without a lock: a torn or stale class only misnames one wait. */
static __always_inline __u32 class_on_cpu(__u32 cpu)
{
	struct colo_cpu_state *cs = bpf_map_lookup_elem(&colo_cpu, &cpu);

	return cs && cs->pub_cls ? (cs->pub_cls - 1) & (COLO_CLASS_MAX - 1) : COLO_CLASS_MAX;
}

/* A woken task: runnable from now on the CPU the kernel put it on, behind
 * whatever runs there. */
static __always_inline void on_wakeup(struct task_struct *p, bool btf, bool fresh)
{
	mark_runnable(p, btf, bpf_ktime_get_ns(), fresh, class_on_cpu(task_cpu_of(p, btf)));
}

/* The cpu cgroup of @t that switches in now, through its entry @w if any. */
static __always_inline __u64 next_cgid_cached(struct task_struct *t, struct colo_wake *w, bool btf)
{
	__u64 css, cgid;
	__u32 gen;

	if (!w)
		return task_cpu_cgid_fast(t, btf);
	gen = cgroup_gen;
	css = btf ? (__u64)t->cgroups : (__u64)BPF_CORE_READ(t, cgroups);
	if (w->css == css && w->gen == gen && css)
		return w->cgid;
	cgid = task_cpu_cgid_fast(t, btf);
	w->cgid = cgid;
	w->gen = gen;
	w->css = css;
	return cgid;
}

/* When the task @w belongs to became runnable (0 = unknown) and behind which
 * class (*queued_cls), and mark it running. */
static __always_inline __u64 take_runnable(struct colo_wake *w, __u32 *queued_cls)
{
	__u64 v;

	*queued_cls = COLO_CLASS_MAX;
	if (!w)
		return 0;
	v = w->ts;
	if (v) {
		w->ts = 0;
		*queued_cls = w->queued_cls;
	}
	return v;
}

/* The slot of thread @pid, taken over if another thread (or none) held it:
 * waits from sched_info keep nothing there but caches. */
static __always_inline struct colo_wake *own_slot(__u32 pid)
{
	__u32 i = pid & (COLO_WAKE_SLOTS - 1);
	struct colo_wake *w = bpf_map_lookup_elem(&colo_wake_ts, &i);

	if (w && w->pid != pid) {
		w->pid = pid;
		w->css = 0;
		w->rd_ok = 0;
	}
	return w;
}

/* This CPU's run queue clock, through @t's fair-class queue (`runqueues` is
 * not in every kallsyms), for a task on this CPU; 0 when not to be had. The
 * queue is this CPU's when it is the one @cs learned (rq->cpu sits on a line
 * of its own, cold at most switches), else when its cpu says so (a task of
 * another class may keep the fair queue of another CPU). */
static __always_inline __u64 rq_clock_via(struct colo_cpu_state *cs, struct task_struct *t,
					  __u32 cpu, bool btf)
{
	struct rq *rq;

	if (!bpf_core_field_exists(struct sched_entity, cfs_rq) ||
	    !bpf_core_field_exists(struct cfs_rq, rq))
		return 0;
	if (btf) {
		rq = t->se.cfs_rq->rq;
		if (!rq)
			return 0;
		if ((__u64)rq != cs->rq) {
			if (rq->cpu != cpu)
				return 0;
			cs->rq = (__u64)rq;
		}
		return rq->clock;
	}
	rq = BPF_CORE_READ(t, se.cfs_rq, rq);
	if (!rq)
		return 0;
	if ((__u64)rq != cs->rq) {
		if (BPF_CORE_READ(rq, cpu) != cpu)
			return 0;
		cs->rq = (__u64)rq;
	}
	return BPF_CORE_READ(rq, clock);
}

/*
 * The switch program's clock with waits from sched_info: @clock, this CPU's
 * run queue clock, which the scheduler has just updated (or, after a wakeup
 * that asked it to skip the update, left at that wakeup's enqueue, as its own
 * accounting then counts too), in CLOCK_MONOTONIC: userspace and the other
 * programs compare since_ns, acct_ns and urgent events with that clock.
 * bpf_ktime_get_ns() costs 170-230 ns per call on a kvm-clock host, more
 * than the rest of the switch (tests/bench/RESULTS.md), so the offset between
 * the two clocks is taken from it once per COLO_CLOCK_SYNC_NS on each CPU.
 * The clock lags by what the scheduler did since it updated it, and by more
 * after a skipped update: so the offset is taken at a switch away from a
 * task that blocked (@fresh), not at one out of idle or after a preemption,
 * which may follow a wakeup that skipped it by the CPU's wake-from-idle or
 * resched time; on a CPU with no such switch, after 100 intervals anyway.
 * Never before @floor, the CPU's last switch: a new offset must not make its
 * time run backwards.
 */
static __always_inline __u64 mono_of_rq_clock(struct colo_cpu_state *cs, __u64 clock, bool fresh,
					      __u64 floor)
{
	__u64 now, age = clock - cs->clk_at;

	if (!cs->clk_at || clock < cs->clk_at ||
	    (age > COLO_CLOCK_SYNC_NS && (fresh || age > 100 * COLO_CLOCK_SYNC_NS))) {
		cs->clk_off = bpf_ktime_get_ns() - clock;
		cs->clk_at = clock;
	}
	now = clock + cs->clk_off;
	return now < floor ? floor : now;
}

/*
 * A run-queue wait from the kernel's own bookkeeping (CONFIG_SCHED_INFO), of
 * a thread switching in now with slot @w: @q is its sched_info.last_queued,
 * when it was queued here (woken, woken new, or preempted and still
 * runnable), in this run queue's clock @clock; the scheduler clears it only
 * after this tracepoint. A queued task that load balancing moved was
 * dequeued first, which added the wait so far to run_delay (@rd) and queued
 * it afresh here: that part is run_delay's growth since the thread's last
 * switch-in, as @w recorded it, when no switch-in was missed in between
 * (sched_info.pcount, @pc). Sets *lat, and *moved when such a part was
 * added; false: no wait known (no queue time, or no clock).
 */
static __always_inline bool wait_from(struct colo_wake *w, __u64 q, __u64 rd, __u32 pc,
				      __u64 clock, __u64 *lat, bool *moved)
{
	*moved = false;
	if (!q || !clock || clock < q) {
		if (w)
			w->rd_ok = 0; /* not known: the next switch-in adds nothing */
		return false;
	}
	*lat = clock - q;
	if (!w)
		return true;
	if (w->rd_ok && w->pcount == pc && rd > w->rd) {
		*lat += rd - w->rd;
		*moved = true;
	}
	/* What sched_info_arrive makes of them, right after this. */
	w->rd = rd + (clock - q);
	w->pcount = pc + 1;
	w->rd_ok = 1;
	return true;
}

/* wait_from() for task @t, reading its sched_info: false when the kernel
 * keeps no queue time for it (*queued: its last_queued). */
static __always_inline bool queued_wait(struct task_struct *t, struct colo_wake *w, __u64 clock,
					bool btf, __u64 *lat, __u64 *queued, bool *moved)
{
	__u64 q, rd;
	__u32 pc;

	*moved = false;
	*queued = 0;
	if (!bpf_core_field_exists(t->sched_info.last_queued))
		return false; /* not reached: the agent picks sched_info only with it */
	if (btf) {
		q = t->sched_info.last_queued;
		rd = t->sched_info.run_delay;
		pc = t->sched_info.pcount;
	} else {
		q = BPF_CORE_READ(t, sched_info.last_queued);
		rd = BPF_CORE_READ(t, sched_info.run_delay);
		pc = BPF_CORE_READ(t, sched_info.pcount);
	}
	*queued = q;
	return wait_from(w, q, rd, pc, clock, lat, moved);
}

/* Records in the CPU's ring that class @cls runs here from rq clock @clock
 * (waits from sched_info), when it is not the class already running. */
static __always_inline void note_class_start(struct colo_cpu_state *cs, __u32 cls, __u64 clock)
{
	__u32 h;

	if (!clock || cs->ring_cls == cls + 1) /* the ring's line untouched */
		return;
	h = cs->cls_head;
	if (h >= COLO_CLS_RING)
		return;
	h = h + 1 < COLO_CLS_RING ? h + 1 : 0;
	cs->cls_ring[h] = cls;
	cs->cls_since[h] = clock;
	cs->cls_head = h;
	cs->ring_cls = cls + 1;
}

/* The class that ran on this CPU at rq clock @at, by the ring
 * (COLO_CLASS_MAX: older than the ring, or never seen). */
static __always_inline __u32 class_at(struct colo_cpu_state *cs, __u64 at)
{
	__u32 h = cs->cls_head, i;
	__u64 since;

	for (i = 0; i < COLO_CLS_RING; i++) {
		if (h >= COLO_CLS_RING)
			break;
		since = cs->cls_since[h];
		if (!since)
			break;
		if (since <= at)
			return cs->cls_ring[h] & (COLO_CLASS_MAX - 1);
		h = h ? h - 1 : COLO_CLS_RING - 1;
	}
	return COLO_CLASS_MAX;
}

/*
 * The rate limit of urgent events, per cgroup per CPU: true, and the event
 * taken as sent at @now, when none of @cgid's went out on this CPU in the
 * last urgent_interval_ns. The stage's one-entry cache of colo_urg_rl (the
 * last cgroup it answered for on this CPU) answers most held-back waits
 * without a map lookup: under `perf bench sched messaging` one wait in five
 * was over the default 5 ms.
 */
static __always_inline bool urgent_allowed(struct colo_rq_stage *sg, __u64 cgid, __u64 now)
{
	__u64 *last;

	if (sg->urg_cgid == cgid && now - sg->urg_last_ns < urgent_interval_ns)
		return false;
	last = bpf_map_lookup_elem(&colo_urg_rl, &cgid);
	if (last && now - *last < urgent_interval_ns) {
		sg->urg_cgid = cgid;
		sg->urg_last_ns = *last;
		return false;
	}
	if (last)
		*last = now;
	else
		bpf_map_update_elem(&colo_urg_rl, &cgid, &now, BPF_ANY);
	sg->urg_cgid = cgid;
	sg->urg_last_ns = now;
	return true;
}

/* An urgent event that urgent_allowed() let through. */
static __always_inline void emit_urgent(__u64 cgid, __u64 lat, __u32 pid, __u32 cpu,
					__u32 prev_cls, __u32 queued_cls, __u64 now,
					struct colo_cg_sched *st)
{
	struct colo_urgent_event *e;

	e = bpf_ringbuf_reserve(&colo_events, sizeof(*e), 0);
	if (!e) {
		colo_count_drop(COLO_DROP_RINGBUF_FULL);
		return;
	}
	e->ts_ns = now;
	e->cgid = cgid;
	e->latency_ns = lat;
	e->pid = pid;
	e->cpu = cpu;
	e->prev_cls = prev_cls;
	e->queued_cls = queued_cls;
	bpf_ringbuf_submit(e, 0);
	__sync_fetch_and_add(&st->urgent_events, 1);
}

/* BE thread @pid got CPU @cpu (class BE there now): wakes the agent if its
 * fast path sleeps. Two CPUs may both send one; the agent takes either. */
static __always_inline void wake_for_be(__u32 pid, __u32 cpu, __u64 now)
{
	struct colo_be_wake_event e = { .ts_ns = now, .pid = pid, .cpu = cpu };

	if (!be_wake_wanted)
		return;
	be_wake_wanted = 0;
	if (bpf_ringbuf_output(&colo_be_wake, &e, sizeof(e), 0))
		colo_count_drop(COLO_DROP_RINGBUF_FULL);
}

/* Adds the preemptions batched on @cs (see note_preemption) to the victim's
 * entry, if it still exists, and to the pair's colo_aggr entry, and empties
 * the batch. */
static __always_inline void flush_preemptions(struct colo_cpu_state *cs, __u64 now)
{
	struct colo_aggr_key k = { .victim_cgid = cs->pre_victim, .aggressor_cgid = cs->pre_aggr };
	struct colo_aggr_val *a, init = { .count = cs->pre_count, .last_ns = now };
	struct colo_cg_sched *st;
	__u32 n = cs->pre_count, cls = cs->pre_cls;

	if (!n)
		return;
	cs->pre_count = 0;
	st = sched_stats_existing(k.victim_cgid);
	if (!st)
		return; /* removed since: its pairs go with it */
	if (cls < COLO_CLASS_MAX)
		__sync_fetch_and_add(&st->preempted_by[cls], n);
	a = bpf_map_lookup_elem(&colo_aggr, &k);
	if (!a && !bpf_map_update_elem(&colo_aggr, &k, &init, BPF_NOEXIST))
		return;
	/* EEXIST: another CPU made the pair's entry in between. */
	if (!a)
		a = bpf_map_lookup_elem(&colo_aggr, &k);
	if (!a) {
		colo_count_drop(COLO_DROP_AGGR_MAP_FULL);
		return;
	}
	__sync_fetch_and_add(&a->count, n);
	a->last_ns = now;
}

/* flush_preemptions() for CPU @cpu, as a global subprogram: rare, and
 * verified once, not on every path of the switch program. */
__noinline int colo_flush_preemptions(__u32 cpu, __u64 now)
{
	struct colo_cpu_state *cs = bpf_map_lookup_elem(&colo_cpu, &cpu);

	if (cs)
		flush_preemptions(cs, now);
	return 0;
}

/*
 * A task of cgroup @victim lost CPU @cpu while runnable to one of cgroup
 * @aggr, of class @cls. Counted in the CPU's batch (one pair at a time),
 * flushed when another pair comes or the count is full: a busy pair (a BE
 * hog and an LS service taking turns on a CPU) costs no map lookup per
 * preemption. The victim's entry is made when a batch starts, so that the
 * flush does not re-create a cgroup removed since.
 */
static __always_inline void note_preemption(struct colo_cpu_state *cs, __u32 cpu, __u64 victim,
					    __u64 aggr, __u32 cls, __u64 now)
{
	if (cs->pre_count && (cs->pre_victim != victim || cs->pre_aggr != aggr ||
			      cs->pre_cls != cls || cs->pre_count == 0xffffffff))
		colo_flush_preemptions(cpu, now);
	if (!cs->pre_count) {
		if (!sched_stats(victim))
			return; /* map full: counted there */
		cs->pre_victim = victim;
		cs->pre_aggr = aggr;
		cs->pre_cls = cls;
		cs->pre_since_ns = now;
	}
	cs->pre_count += 1;
}

/* At a switch on CPU @cpu: flushes its preemption batch when it is older
 * than COLO_RUN_FLUSH_NS, then counts one if @victim (0: none) lost the CPU
 * while runnable to @aggr, of class @cls. */
static __always_inline void settle_preemptions(struct colo_cpu_state *cs, __u32 cpu, __u64 victim,
					       __u64 aggr, __u32 cls, __u64 now)
{
	if (cs->pre_count && now - cs->pre_since_ns > COLO_RUN_FLUSH_NS)
		colo_flush_preemptions(cpu, now);
	if (victim)
		note_preemption(cs, cpu, victim, aggr, cls, now);
}

static __always_inline bool is_aggressor_class(__u32 cls)
{
	return cls == COLO_CLASS_BE || cls == COLO_CLASS_SYSTEM;
}

/* The class @t counts as while it runs in cgroup @cgid (0: idle). */
static __always_inline __u32 running_class(struct colo_cpu_state *cs, struct task_struct *t,
					   __u64 cgid, bool btf)
{
	__u32 cls;

	if (!cgid)
		return COLO_CLASS_IDLE;
	cls = class_cached(cs, cgid);
	if (cls == COLO_CLASS_LS)
		cls = task_class(cls, btf ? t->flags : BPF_CORE_READ(t, flags),
				 btf ? t->tgid : BPF_CORE_READ(t, tgid));
	return cls;
}

/* Adds @ns of overlap of two siblings' classes: to an LS side when the other
 * side is an aggressor. */
static __always_inline void charge_overlap(__u64 a_cgid, __u32 a_cls, __u64 b_cgid, __u32 b_cls,
					   __u64 ns)
{
	struct colo_cg_sched *st;

	if (!ns)
		return;
	if (a_cls == COLO_CLASS_LS && a_cgid && is_aggressor_class(b_cls)) {
		st = sched_stats(a_cgid);
		if (st)
			__sync_fetch_and_add(&st->smt_ns[b_cls & (COLO_CLASS_MAX - 1)], ns);
	}
	if (b_cls == COLO_CLASS_LS && b_cgid && is_aggressor_class(a_cls)) {
		st = sched_stats(b_cgid);
		if (st)
			__sync_fetch_and_add(&st->smt_ns[a_cls & (COLO_CLASS_MAX - 1)], ns);
	}
}

/*
 * What @cpu runs now when its state @ss is stale: it missed a switch (see
 * settle_missed_switch), so the task its last seen switch put there no longer
 * runs there. The kernel's own answer is the run queue's current task, found
 * through the cached task's run queue (no `runqueues` symbol needed). Fills
 * the task's cgroup, class, and when it started running (from its own run
 * time this stint; 0 when not known). False when @ss is current, or the
 * answer cannot be had: the cached class is then used as it is.
 */
static __always_inline bool sibling_missed_switch(struct colo_cpu_state *cs,
						  struct colo_cpu_state *ss, __u32 cpu, __u64 now,
						  __u64 *cgid, __u32 *cls, __u64 *since)
{
	struct task_struct *t = (void *)ss->task, *curr;
	struct rq *rq;
	__u64 sum, start;

	if (!t || (BPF_CORE_READ(t, on_cpu) && BPF_CORE_READ(t, thread_info.cpu) == cpu))
		return false;
	if (!bpf_core_field_exists(struct cfs_rq, rq))
		return false;
	rq = BPF_CORE_READ(t, se.cfs_rq, rq);
	if (!rq || BPF_CORE_READ(rq, cpu) != cpu)
		return false;
	curr = BPF_CORE_READ(rq, curr);
	if (!curr || curr == t)
		return false;
	*since = 0;
	if (BPF_CORE_READ(curr, pid)) {
		*cgid = task_cpu_cgid_fast(curr, false);
		*cls = running_class(cs, curr, *cgid, false);
		sum = BPF_CORE_READ(curr, se.sum_exec_runtime);
		start = BPF_CORE_READ(curr, se.prev_sum_exec_runtime);
		if (sum > start && sum - start < now)
			*since = now - (sum - start);
	} else {
		*cgid = 0;
		*cls = COLO_CLASS_IDLE;
	}
	return true;
}

/*
 * SMT interference, settled at every switch on either sibling: between two
 * such events both CPUs' states are constant, so the overlap since the last
 * event is exact. Userspace adds the unsettled part when it reads. A sibling
 * whose last switch was missed is asked what it runs now (above): its stale
 * class counts until the current task started, that task's after.
 */
static __always_inline void settle_smt(struct colo_cpu_state *cs, __u64 cur_cgid, __u32 cur_cls,
				       __u64 now)
{
	struct colo_cpu_state *ss;
	__u32 sib = cs->sibling, sib_cls, real_cls;
	__u64 from = cs->acct_ns, sib_cgid, real_cgid, real_since;

	if (sib == COLO_NO_SIBLING)
		return;
	ss = bpf_map_lookup_elem(&colo_cpu, &sib);
	if (!ss)
		return;
	if (ss->since_ns && from && now > from) {
		sib_cgid = ss->cgid;
		sib_cls = ss->cls & (COLO_CLASS_MAX - 1);
		if (sibling_missed_switch(cs, ss, sib, now, &real_cgid, &real_cls, &real_since)) {
			if (real_since > from && real_since < now) {
				charge_overlap(cur_cgid, cur_cls, sib_cgid, sib_cls, real_since - from);
				from = real_since;
			}
			sib_cgid = real_cgid;
			sib_cls = real_cls;
		}
		charge_overlap(cur_cgid, cur_cls, sib_cgid, sib_cls, now - from);
	}
	cs->acct_ns = now;
	ss->acct_ns = now;
}

/*
 * settle_smt() for CPU @cpu, as a global subprogram: the verifier checks it
 * once on its own, not again on every path of the switch program that
 * reaches it, which took that program past the verifier's limit of a
 * million instructions (E2BIG) with SMT on. Arguments are scalars only, as
 * global subprograms take them on every kernel colo supports.
 */
__noinline int colo_settle_smt(__u32 cpu, __u64 cur_cgid, __u32 cur_cls, __u64 now)
{
	struct colo_cpu_state *cs = bpf_map_lookup_elem(&colo_cpu, &cpu);

	if (cs)
		settle_smt(cs, cur_cgid, cur_cls & (COLO_CLASS_MAX - 1), now);
	return 0;
}

/*
 * Charges the CPU time since cs->since_ns to class @cls and cgroup @cgid: per
 * class at once (cs->class_ns), per cgroup batched in cs->pending_run_ns for
 * cs->run_cgid, across idle periods, until another cgroup runs, the batch
 * reaches COLO_RUN_FLUSH_NS, or @flush. So most switches do not touch the
 * shared colo_cg_sched entry. @remote: @cs may be another CPU's, which may
 * be charging its own at the same time.
 */
static __always_inline void charge_cpu_time(struct colo_cpu_state *cs, __u32 cls, __u64 cgid,
					    __u64 now, bool flush, bool remote)
{
	struct colo_cg_sched *st;
	__u64 delta;

	if (!cs->since_ns || now <= cs->since_ns)
		return;
	delta = now - cs->since_ns;
	if (remote)
		__sync_fetch_and_add(&cs->class_ns[cls & (COLO_CLASS_MAX - 1)], delta);
	else
		cs->class_ns[cls & (COLO_CLASS_MAX - 1)] += delta;
	if (!cgid)
		return; /* idle: the batch of the last cgroup goes on */
	if (cs->run_cgid != cgid) {
		if (cs->run_cgid && cs->pending_run_ns) {
			st = sched_stats_existing(cs->run_cgid);
			if (st)
				__sync_fetch_and_add(&st->run_ns, cs->pending_run_ns);
		}
		cs->pending_run_ns = 0;
		cs->run_cgid = cgid;
		flush = true; /* creates the new cgroup's entry */
	}
	cs->pending_run_ns += delta;
	if (!flush && cs->pending_run_ns < COLO_RUN_FLUSH_NS)
		return;
	st = sched_stats(cgid);
	if (st)
		__sync_fetch_and_add(&st->run_ns, cs->pending_run_ns);
	cs->pending_run_ns = 0;
}

/*
 * A switch reached no tracer: @prev leaves the CPU, but the last switch seen
 * here put another task on it (seen on this VM: switches out of the sandbox
 * init's threads never fire sched_switch, so the CPU looked busy with them
 * until the next switch, for up to 0.6 s). What the cached task ran and what
 * @prev ran since are split by @prev's own run time in this stint (the
 * scheduler's sum_exec_runtime since it was picked, fair class); when that is
 * not known, all of it goes to @prev. Charges the cached task's part, and
 * leaves cs->since_ns at the split.
 */
static __always_inline void settle_missed_switch(struct colo_cpu_state *cs, __u32 cpu,
						 struct task_struct *prev, __u32 prev_pid, bool btf,
						 __u64 now)
{
	__u64 split = cs->since_ns, sum, start, ran;
	__u32 cls = cs->cls & (COLO_CLASS_MAX - 1);

	colo_count_drop(COLO_DROP_MISSED_SWITCH);
	if (btf) {
		sum = prev->se.sum_exec_runtime;
		start = prev->se.prev_sum_exec_runtime;
	} else {
		sum = BPF_CORE_READ(prev, se.sum_exec_runtime);
		start = BPF_CORE_READ(prev, se.prev_sum_exec_runtime);
	}
	ran = sum - start;
	if (prev_pid && sum > start && ran < now - cs->since_ns) /* idle keeps no sum */
		split = now - ran;
	if (split <= cs->since_ns)
		return;
	if (smt_enabled && split > cs->acct_ns)
		colo_settle_smt(cpu, cs->cgid, cls, split);
	charge_cpu_time(cs, cls, cs->cgid, split, false, false);
	cs->since_ns = split;
}

static __always_inline int on_switch(__u64 *ctx, bool preempt, struct task_struct *prev,
				     struct task_struct *next, bool btf)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct colo_cpu_state *cs;
	struct colo_rq_stage *sg;
	struct colo_cg_sched *st;
	struct colo_wake *w;
	__u32 prev_pid, next_pid, next_cls, prev_cls, queued_cls;
	__u64 now, next_cgid, prev_cgid, ts, lat, clock, queued;
	bool runnable, moved, waited;

	cs = bpf_map_lookup_elem(&colo_cpu, &cpu);
	sg = bpf_map_lookup_elem(&colo_stage, &cpu);
	if (!cs || !sg)
		return 0;
	prev_pid = btf ? prev->pid : BPF_CORE_READ(prev, pid);
	next_pid = btf ? next->pid : BPF_CORE_READ(next, pid);
	/* A task that loses its CPU while runnable waits again from now. */
	runnable = prev_pid && prev_runnable(ctx, preempt, prev, btf);
	clock = 0;
	if (wait_from_sched_info)
		clock = rq_clock_via(cs, next_pid ? next : prev, cpu, btf);
	now = clock ? mono_of_rq_clock(cs, clock, prev_pid && !runnable, cs->since_ns)
		    : bpf_ktime_get_ns();
	settle_stage(cs, sg, cpu, now);

	/* What ran until now: cached at the switch that put it on this CPU. */
	prev_cgid = cs->cgid;
	prev_cls = cs->cls & (COLO_CLASS_MAX - 1);
	if (!cs->since_ns) {
		/* First switch seen on this CPU: learn prev the slow way. */
		prev_cgid = prev_pid ? task_cpu_cgid_fast(prev, btf) : 0;
		prev_cls = running_class(cs, prev, prev_cgid, btf);
	} else if ((__u64)prev != cs->task) {
		settle_missed_switch(cs, cpu, prev, prev_pid, btf, now);
		prev_cgid = prev_pid ? task_cpu_cgid_fast(prev, btf) : 0;
		prev_cls = running_class(cs, prev, prev_cgid, btf);
	}

	ts = 0;
	lat = 0;
	queued = 0;
	moved = false;
	waited = false;
	queued_cls = COLO_CLASS_MAX;
	if (next_pid) {
		if (wait_from_sched_info) {
			w = own_slot(next_pid);
			/* Woken onto an idle CPU, the clock was not updated in
			 * between (rq_clock_skip_update): a wait of 0, as the
			 * kernel's own run_delay counts it. */
			waited = queued_wait(next, w, clock, btf, &lat, &queued, &moved);
			if (!waited)
				colo_count_drop(COLO_DROP_NO_QUEUED_TIME);
		} else {
			w = wake_slot(next_pid);
			ts = take_runnable(w, &queued_cls);
			waited = ts && now > ts;
			if (waited)
				lat = now - ts;
		}
		next_cgid = next_cgid_cached(next, w, btf);
		next_cls = running_class(cs, next, next_cgid, btf);
		if (next_cls == COLO_CLASS_BE)
			wake_for_be(next_pid, cpu, now);
	} else {
		next_cgid = 0;
		next_cls = COLO_CLASS_IDLE;
	}

	/* A runnable prev waits behind next. Marked after next's entry was
	 * used, not before: when the two threads' ids share a slot, prev takes
	 * it over. (From sched_info, the kernel marks it.) */
	if (runnable && !wait_from_sched_info)
		mark_runnable(prev, btf, now, false, next_cls);

	if (smt_enabled)
		colo_settle_smt(cpu, prev_cgid, prev_cls, now);

	charge_cpu_time(cs, prev_cls, prev_pid ? prev_cgid : 0, now, false, false);
	settle_preemptions(cs, cpu, runnable ? prev_cgid : 0, next_cgid, next_cls, now);

	if (waited && next_cgid) {
		stage_sample(cs, sg, next_cgid, colo_hist_slot(lat), lat, now);
		/* Kernel threads and the agent's own are SYSTEM (task_class). */
		if (next_cls == COLO_CLASS_LS && urgent_threshold_ns && lat >= urgent_threshold_ns &&
		    urgent_allowed(sg, next_cgid, now)) {
			/* From sched_info: what ran here when it was queued here;
			 * queued first on another CPU (moved), not known. */
			if (wait_from_sched_info && !moved)
				queued_cls = class_at(cs, queued);
			st = sched_stats(next_cgid);
			if (st)
				emit_urgent(next_cgid, lat, next_pid, cpu,
					    prev_pid ? prev_cls : COLO_CLASS_IDLE, queued_cls, now, st);
		}
	}

	cs->cgid = next_cgid;
	cs->cls = next_cls;
	if (wait_from_sched_info)
		note_class_start(cs, next_cls, clock);
	else
		publish_class(cs, next_cls);
	cs->pid = next_pid;
	cs->task = (__u64)next;
	cs->since_ns = now;
	return 0;
}

/*
 * A running task moved to another cgroup (typically itself: a launcher that
 * writes its own pid to cgroup.procs, then execs). The CPU it runs on cached
 * the old cgroup at switch-in, and a lone CPU-bound task may not switch again
 * for seconds: settle what ran under the old cgroup and re-point the CPU.
 */
static __always_inline void on_attach(struct cgroup *dst, struct task_struct *task, bool btf)
{
	struct colo_cpu_state *cs;
	__u64 now, cgid;
	__u32 cpu, prev_cls;

	__sync_fetch_and_add(&cgroup_gen, 1); /* cached cgroups of threads are stale */
	if (BPF_CORE_READ(dst, root, hierarchy_id) != cpu_hierarchy)
		return;
	if (!(btf ? task->on_cpu : BPF_CORE_READ(task, on_cpu)))
		return; /* not running: its next switch-in reads the new cgroup */
	cpu = task_cpu_of(task, btf);
	cs = bpf_map_lookup_elem(&colo_cpu, &cpu);
	if (!cs || !cs->since_ns || cs->task != (__u64)task)
		return; /* not what the CPU's state says runs: its next switch repairs that */
	now = bpf_ktime_get_ns();
	prev_cls = cs->cls & (COLO_CLASS_MAX - 1);
	if (smt_enabled)
		colo_settle_smt(cpu, cs->cgid, prev_cls, now);
	charge_cpu_time(cs, prev_cls, cs->cgid, now, true, cpu != bpf_get_smp_processor_id());
	cgid = cgroup_id_of(dst);
	cs->cgid = cgid;
	cs->cls = class_cached(cs, cgid);
	publish_class(cs, cs->cls);
	cs->since_ns = now;
	if (cs->cls == COLO_CLASS_BE) /* moved into the box while it runs */
		wake_for_be(btf ? task->pid : BPF_CORE_READ(task, pid), cpu, now);
}

static __always_inline void forget_cgroup(struct cgroup *cgrp)
{
	__u32 hier = BPF_CORE_READ(cgrp, root, hierarchy_id);
	struct colo_class_key ck = { .cgid = cgroup_id_of(cgrp), .hierarchy = hier };

	__sync_fetch_and_add(&tree_gen, 1);
	if (hier == cpu_hierarchy)
		bpf_map_delete_elem(&colo_cg_sched, &ck.cgid);
	bpf_map_delete_elem(&colo_class, &ck);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(colo_wakeup_btf, struct task_struct *p)
{
	on_wakeup(p, true, false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(colo_wakenew_btf, struct task_struct *p)
{
	on_wakeup(p, true, true);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(colo_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(ctx, preempt, prev, next, true);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(colo_rmdir_btf, struct cgroup *cgrp, const char *path)
{
	forget_cgroup(cgrp);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(colo_mkdir_btf, struct cgroup *cgrp, const char *path)
{
	__sync_fetch_and_add(&tree_gen, 1);
	return 0;
}

SEC("tp_btf/cgroup_rename")
int BPF_PROG(colo_rename_btf, struct cgroup *cgrp, const char *path)
{
	__sync_fetch_and_add(&tree_gen, 1);
	return 0;
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(colo_attach_btf, struct cgroup *dst, const char *path, struct task_struct *task)
{
	on_attach(dst, task, true);
	return 0;
}

SEC("raw_tp/cgroup_attach_task")
int BPF_PROG(colo_attach_raw, struct cgroup *dst, const char *path, struct task_struct *task)
{
	on_attach(dst, task, false);
	return 0;
}

/* v1: tasks moved out of a cgroup that can no longer hold them (cpuset). */
SEC("tp_btf/cgroup_transfer_tasks")
int BPF_PROG(colo_transfer_btf, struct cgroup *dst, const char *path, struct task_struct *task)
{
	__sync_fetch_and_add(&cgroup_gen, 1);
	return 0;
}

SEC("raw_tp/cgroup_transfer_tasks")
int BPF_PROG(colo_transfer_raw, struct cgroup *dst, const char *path, struct task_struct *task)
{
	__sync_fetch_and_add(&cgroup_gen, 1);
	return 0;
}

/* A thread that exits frees its colo_wake_ts slot (its id may be reused). */
static __always_inline void forget_pid(__u32 pid)
{
	struct colo_wake *w = wake_slot(pid);

	if (w) {
		w->pid = 0;
		w->ts = 0;
	}
}

static __always_inline void forget_task(struct task_struct *p, bool btf)
{
	forget_pid(btf ? p->pid : BPF_CORE_READ(p, pid));
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(colo_exit_btf, struct task_struct *p)
{
	forget_task(p, true);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(colo_exit_raw, struct task_struct *p)
{
	forget_task(p, false);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(colo_wakeup_raw, struct task_struct *p)
{
	on_wakeup(p, false, false);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(colo_wakenew_raw, struct task_struct *p)
{
	on_wakeup(p, false, true);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(colo_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(ctx, preempt, prev, next, false);
}

SEC("raw_tp/cgroup_rmdir")
int BPF_PROG(colo_rmdir_raw, struct cgroup *cgrp, const char *path)
{
	forget_cgroup(cgrp);
	return 0;
}

SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(colo_mkdir_raw, struct cgroup *cgrp, const char *path)
{
	__sync_fetch_and_add(&tree_gen, 1);
	return 0;
}

SEC("raw_tp/cgroup_rename")
int BPF_PROG(colo_rename_raw, struct cgroup *cgrp, const char *path)
{
	__sync_fetch_and_add(&tree_gen, 1);
	return 0;
}

/* BPF_PROG_TEST_RUN entry, run once by the agent between load and attach:
 * records the caller's thread group id as the kernel sees it (the agent may
 * run in its own pid namespace, where getpid() is another number). Never
 * attached. */
SEC("raw_tp/colo_learn_self")
int colo_learn_self(void *ctx)
{
	quiet_tgid = bpf_get_current_pid_tgid() >> 32;
	return 0;
}

/* BPF_PROG_TEST_RUN entry: the histogram slot of a latency, so tests/bpf can
 * check the kernel's slot math against the userspace twin. Never attached. */
__u64 test_slot_in = 0;
__u32 test_slot_out = 0;

SEC("raw_tp/colo_test_slot")
int colo_test_slot(void *ctx)
{
	test_slot_out = colo_hist_slot(test_slot_in);
	return 0;
}

/* BPF_PROG_TEST_RUN entry: task_class() on given inputs. Never attached. */
__u32 test_class_in[3] = {}; /* cgroup class, task flags, tgid */
__u32 test_class_out = 0;

SEC("raw_tp/colo_test_class")
int colo_test_class(void *ctx)
{
	test_class_out = task_class(test_class_in[0], test_class_in[1], test_class_in[2]);
	return 0;
}

/* BPF_PROG_TEST_RUN entry: the colo_wake_ts slot table on given thread ids.
 * op 1: thread test_wake_pid became runnable at test_wake_now; 2: it is
 * switched in (test_wake_out: the time it became runnable, 0 if its slot has
 * none for it); 3: it exits. Never attached. */
__u32 test_wake_op = 0;
__u32 test_wake_pid = 0;
__u64 test_wake_now = 0;
__u64 test_wake_out = 0;

SEC("raw_tp/colo_test_wake")
int colo_test_wake(void *ctx)
{
	struct colo_wake *w;
	__u32 cls;

	test_wake_out = 0;
	if (test_wake_op == 1) {
		mark_runnable_pid(test_wake_pid, test_wake_now, false, COLO_CLASS_LS);
	} else if (test_wake_op == 2) {
		w = wake_slot(test_wake_pid);
		test_wake_out = take_runnable(w, &cls);
	} else if (test_wake_op == 3) {
		forget_pid(test_wake_pid);
	}
	return 0;
}

/* BPF_PROG_TEST_RUN entry: a switch's work on the stage of the CPU it runs
 * on (colo_stage) at test_stage_now: settle it, then stage one run-queue
 * sample of test_stage_cgid, test_stage_lat ns long (none if the cgroup is 0).
 * Never attached. */
__u64 test_stage_cgid = 0;
__u64 test_stage_lat = 0;
__u64 test_stage_now = 0;

SEC("raw_tp/colo_test_stage")
int colo_test_stage(void *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct colo_rq_stage *sg = bpf_map_lookup_elem(&colo_stage, &cpu);
	struct colo_cpu_state *cs = bpf_map_lookup_elem(&colo_cpu, &cpu);

	if (!sg || !cs)
		return 0;
	settle_stage(cs, sg, cpu, test_stage_now);
	if (test_stage_cgid)
		stage_sample(cs, sg, test_stage_cgid, colo_hist_slot(test_stage_lat),
			     test_stage_lat, test_stage_now);
	return 0;
}

/* BPF_PROG_TEST_RUN entry: urgent_allowed() for test_urg_cgid at test_urg_now
 * on the CPU it runs on (test_urg_out: 1 allowed, 0 held back). Never attached. */
__u64 test_urg_cgid = 0;
__u64 test_urg_now = 0;
__u32 test_urg_out = 0;

SEC("raw_tp/colo_test_urgent")
int colo_test_urgent(void *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct colo_rq_stage *sg = bpf_map_lookup_elem(&colo_stage, &cpu);

	if (sg)
		test_urg_out = urgent_allowed(sg, test_urg_cgid, test_urg_now);
	return 0;
}

/* BPF_PROG_TEST_RUN entry: waits from sched_info on the CPU it runs on. op 1:
 * thread test_si_pid switches in with sched_info test_si_in[] = {last_queued,
 * run_delay, pcount, rq clock} (test_si_out: its wait, test_si_moved: a part
 * came from a migration; no wait: test_si_out ~0); 2: class test_si_cls
 * starts running at rq clock test_si_in[3]; 3: test_si_out = the class that
 * ran at rq clock test_si_in[3]; 4: test_si_out = rq clock test_si_in[3] in
 * CLOCK_MONOTONIC, at a switch away from a task that blocked if
 * test_si_in[1], never before test_si_in[0]. Never attached. */
__u32 test_si_op = 0;
__u32 test_si_pid = 0;
__u32 test_si_cls = 0;
__u32 test_si_moved = 0;
__u64 test_si_in[4] = {};
__u64 test_si_out = 0;

SEC("raw_tp/colo_test_schedinfo")
int colo_test_schedinfo(void *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct colo_cpu_state *cs = bpf_map_lookup_elem(&colo_cpu, &cpu);
	__u64 q = test_si_in[0], clock = test_si_in[3], lat = 0;
	struct colo_wake *w;
	bool moved = false;

	if (!cs)
		return 0;
	if (test_si_op == 1) {
		w = own_slot(test_si_pid);
		if (!wait_from(w, q, test_si_in[1], test_si_in[2], clock, &lat, &moved))
			lat = ~0ull;
		test_si_out = lat;
		test_si_moved = moved;
	} else if (test_si_op == 2) {
		note_class_start(cs, test_si_cls, clock);
	} else if (test_si_op == 3) {
		test_si_out = class_at(cs, clock);
	} else if (test_si_op == 4) {
		test_si_out = mono_of_rq_clock(cs, clock, test_si_in[1], q);
	}
	return 0;
}

/* BPF_PROG_TEST_RUN entry: a switch's preemption accounting on the CPU it
 * runs on at test_pre_now: a task of cgroup test_pre_victim (0: none) lost
 * the CPU while runnable to one of test_pre_aggr, of class test_pre_cls.
 * Never attached. */
__u64 test_pre_victim = 0;
__u64 test_pre_aggr = 0;
__u64 test_pre_now = 0;
__u32 test_pre_cls = 0;

SEC("raw_tp/colo_test_preempt")
int colo_test_preempt(void *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct colo_cpu_state *cs = bpf_map_lookup_elem(&colo_cpu, &cpu);

	if (cs)
		settle_preemptions(cs, cpu, test_pre_victim, test_pre_aggr,
				   test_pre_cls & (COLO_CLASS_MAX - 1), test_pre_now);
	return 0;
}
