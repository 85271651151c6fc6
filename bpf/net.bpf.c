// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TC egress accounting and classification per socket cgroup. Attached to
 * clsact egress on the configured interfaces; counts bytes and packets by the
 * v2 cgroup of the sending socket (bpf_skb_cgroup_id works on v1-hybrid hosts
 * too: every socket has a v2 cgroup, net_cls is not needed) and by its class.
 *
 * Where colo limits BE egress (colo_net_if), colo owns the root qdisc, an HTB
 * (see COLO_HTB_* in colo_abi.h). clsact egress runs before the root qdisc,
 * so setting skb->priority here picks the HTB leaf: BE packets go to their
 * cgroup's leaf or the box's; every other packet passes with its priority
 * untouched and HTB sends it through its direct queue, unshaped. The program
 * itself never drops: it returns TC_ACT_OK for every packet.
 */
#include "colo_common.bpf.h"

#define TC_ACT_OK 0

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, COLO_MAX_CGROUPS);
	__type(key, struct colo_net_key);
	__type(value, struct colo_net_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_net SEC(".maps");

/* Per interface and class: what the egress controller watches (LS rate). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct colo_net_class_key);
	__type(value, struct colo_net_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_net_class SEC(".maps");

/* ifindex -> 1 where BE packets are classified into colo's HTB. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_net_if SEC(".maps");

/* v2 cgroup id -> HTB leaf minor of a BE cgroup with a limit of its own. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, COLO_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} colo_net_cgcls SEC(".maps");

static __always_inline void add_to(void *map, void *k, __u64 len)
{
	struct colo_net_val *v, init = { .bytes = len, .packets = 1 };

	v = bpf_map_lookup_elem(map, k);
	if (v) {
		v->bytes += len;
		v->packets += 1;
		return;
	}
	if (bpf_map_update_elem(map, k, &init, BPF_NOEXIST)) {
		/* A racing CPU created it (per-CPU values: ours is separate). */
		v = bpf_map_lookup_elem(map, k);
		if (v) {
			v->bytes += len;
			v->packets += 1;
		} else {
			colo_count_drop(COLO_DROP_NET_MAP_FULL);
		}
	}
}

/* The HTB class for a packet of class @cls from cgroup @cgid, or 0 to leave
 * skb->priority as it is. */
static __always_inline __u32 htb_class_for(__u64 cgid, __u32 cls, __u32 prio)
{
	__u32 *minor;

	if (cls == COLO_CLASS_BE) {
		minor = bpf_map_lookup_elem(&colo_net_cgcls, &cgid);
		return COLO_HTB_CLASSID(minor ? *minor : COLO_HTB_BE_MINOR);
	}
	/* A socket priority that happens to name one of colo's classes would be
	 * shaped: send it to the direct queue (the qdisc's own handle) instead. */
	if ((prio >> 16) == COLO_HTB_MAJOR)
		return COLO_HTB_CLASSID(0);
	return 0;
}

SEC("tc")
int colo_egress(struct __sk_buff *skb)
{
	__u64 cgid = bpf_skb_cgroup_id(skb);
	__u32 ifindex = skb->ifindex;
	struct colo_net_key k = { .cgid = cgid, .ifindex = ifindex };
	__u32 cls = colo_class_of(cgid, 0);
	struct colo_net_class_key ck = { .ifindex = ifindex, .cls = cls };
	__u32 *shaped, prio;

	add_to(&colo_net, &k, skb->len);
	add_to(&colo_net_class, &ck, skb->len);

	shaped = bpf_map_lookup_elem(&colo_net_if, &ifindex);
	if (shaped && *shaped) {
		prio = htb_class_for(cgid, cls, skb->priority);
		if (prio)
			skb->priority = prio;
	}
	return TC_ACT_OK;
}
