// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TC egress accounting per socket cgroup. Attached to clsact egress on the
 * configured interfaces; counts bytes and packets by the v2 cgroup of the
 * sending socket (bpf_skb_cgroup_id works on v1-hybrid hosts too: every
 * socket has a v2 cgroup, net_cls is not needed) and lets the packet pass.
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

static __always_inline void account(struct colo_net_key *k, __u64 len)
{
	struct colo_net_val *v, init = { .bytes = len, .packets = 1 };

	v = bpf_map_lookup_elem(&colo_net, k);
	if (v) {
		v->bytes += len;
		v->packets += 1;
		return;
	}
	if (bpf_map_update_elem(&colo_net, k, &init, BPF_NOEXIST)) {
		/* A racing CPU created it (per-CPU values: ours is separate). */
		v = bpf_map_lookup_elem(&colo_net, k);
		if (v) {
			v->bytes += len;
			v->packets += 1;
		} else {
			colo_count_drop(COLO_DROP_NET_MAP_FULL);
		}
	}
}

SEC("tc")
int colo_egress(struct __sk_buff *skb)
{
	struct colo_net_key k = {
		.cgid = bpf_skb_cgroup_id(skb),
		.ifindex = skb->ifindex,
	};

	account(&k, skb->len);
	return TC_ACT_OK;
}
