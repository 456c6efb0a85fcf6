// Ironpost XDP program (bcc C). Compiled by ironpost/ebpf/loader.py, which defines:
//   PIN_BLOCK_V4, PIN_BLOCK_V6, PIN_STATS, PIN_CONFIG   pin paths (strings) on a bpffs
//   RB_PAGES                                ring buffer size in pages (power of two)
// Userspace mirrors of the layouts below live in ironpost/ebpf/layout.py: keep them in step.
#include <uapi/linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>

#define ETH_P_8021Q_BE  htons(0x8100)
#define ETH_P_8021AD_BE htons(0x88A8)
#define ETH_P_IP_BE     htons(ETH_P_IP)
#define ETH_P_IPV6_BE   htons(ETH_P_IPV6)

// Counter slots. Per protocol class: packets at 2*class, bytes at 2*class+1.
enum { P_TCP, P_UDP, P_ICMP, P_ICMP6, P_OTHER_L4, P_NON_IP, P_NCLASS };
#define S_DROP_PKTS   12
#define S_DROP_BYTES  13
#define S_PARSE_ERR   14
#define S_RB_FULL     15
#define S_IPV4        16
#define S_IPV6        17
#define S_RECORDS     18
#define S_HANDSHAKES  19
#define S_MAX         20

#define C_SAMPLE_RATE   0
#define C_SCAN_REFRESH  1   // ms; see port_first_seen()
#define C_MAX           4

#define REC_F_HANDSHAKE_DONE 1

struct vlan_hdr_t {
    __be16 tci;
    __be16 encap_proto;
};

// One fixed-size record per reported packet (56 bytes; 64 with the ring buffer header).
struct pkt_rec {
    u64 ts_ns;        // bpf_ktime_get_ns(): CLOCK_MONOTONIC
    u8  saddr[16];    // network order; IPv4 uses the first 4 bytes
    u8  daddr[16];
    u16 sport;        // host order; ICMP: type
    u16 dport;        // host order; ICMP: code
    u32 len;          // frame length
    u8  proto;        // IPPROTO_*
    u8  tcp_flags;
    u8  action;       // XDP_DROP (1) or XDP_PASS (2)
    u8  family;       // 4 or 6
    u16 vlan;         // outer VLAN id, 0 if untagged
    u8  rflags;       // REC_F_*
    u8  pad;
};

struct lpm_v4 {
    u32 prefixlen;
    u8  addr[4];
};

struct lpm_v6 {
    u32 prefixlen;
    u8  addr[16];
};

// A blocklist entry: hits counted here; expires_ns (CLOCK_MONOTONIC, 0 = never) lets the
// kernel stop dropping on time even when no daemon is running to delete the entry.
struct block_val {
    u64 hits;
    u64 expires_ns;
};

// Flow key of a SYN seen but not yet acknowledged, to mark handshake completion.
struct flow_key {
    u8  saddr[16];
    u8  daddr[16];
    u16 sport;
    u16 dport;
    u32 family;
};

BPF_TABLE_PINNED("lpm_trie", struct lpm_v4, struct block_val, block_v4, 1048576, PIN_BLOCK_V4, BPF_F_NO_PREALLOC);
BPF_TABLE_PINNED("lpm_trie", struct lpm_v6, struct block_val, block_v6, 262144, PIN_BLOCK_V6, BPF_F_NO_PREALLOC);
BPF_TABLE_PINNED("percpu_array", int, u64, stats, S_MAX, PIN_STATS);
BPF_TABLE_PINNED("array", int, u32, config, C_MAX, PIN_CONFIG);
// (source, destination port) of UDP records already sent, so sampling never hides a new port.
struct port_key {
    u8  saddr[16];
    u16 dport;
    u16 family;
};

BPF_TABLE("lru_hash", struct flow_key, u64, syn_pending, 65536);
BPF_TABLE("lru_hash", struct port_key, u64, port_seen, 65536);
BPF_RINGBUF_OUTPUT(events, RB_PAGES);

static __always_inline void add(int idx, u64 n) {
    u64 *v = stats.lookup(&idx);
    if (v)
        *v += n;  // per-CPU slot: no atomics needed
}

static __always_inline int account(int class, u64 bytes, int action) {
    add(2 * class, 1);
    add(2 * class + 1, bytes);
    if (action == XDP_DROP) {
        add(S_DROP_PKTS, 1);
        add(S_DROP_BYTES, bytes);
    }
    return action;
}

static __always_inline int blocked(struct block_val *v) {
    if (!v)
        return 0;
    if (v->expires_ns && bpf_ktime_get_ns() >= v->expires_ns)
        return 0;
    __sync_fetch_and_add(&v->hits, 1);
    return 1;
}

// Port-scan detection counts distinct destination ports per source, so under sampling the
// first UDP packet from a source to a port is always sent, and again once C_SCAN_REFRESH ms
// have passed since the last one sent for that pair. An LRU eviction only makes a pair look
// new again: it can add records, never hide one.
static __always_inline int port_first_seen(struct pkt_rec *rec) {
    struct port_key k = {};
    __builtin_memcpy(k.saddr, rec->saddr, 16);
    k.dport = rec->dport;
    k.family = rec->family;
    int ck = C_SCAN_REFRESH;
    u32 *refresh_ms = config.lookup(&ck);
    u64 refresh = (refresh_ms && *refresh_ms) ? (u64)*refresh_ms * 1000000ULL : 1000000000ULL;
    u64 now = bpf_ktime_get_ns();
    u64 *last = port_seen.lookup(&k);
    if (last && now - *last < refresh)
        return 0;
    port_seen.update(&k, &now);
    return 1;
}

int ironpost_xdp(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    u64 bytes = data_end - data;

    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end) {
        add(S_PARSE_ERR, 1);
        return account(P_NON_IP, bytes, XDP_PASS);
    }
    u16 h_proto = eth->h_proto;
    void *cur = eth + 1;
    u16 vlan = 0;

    // Up to two tags: 802.1ad outer + 802.1Q inner (QinQ).
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (h_proto == ETH_P_8021Q_BE || h_proto == ETH_P_8021AD_BE) {
            struct vlan_hdr_t *vh = cur;
            if ((void *)(vh + 1) > data_end) {
                add(S_PARSE_ERR, 1);
                return account(P_NON_IP, bytes, XDP_PASS);
            }
            if (!vlan)
                vlan = ntohs(vh->tci) & 0x0fff;
            h_proto = vh->encap_proto;
            cur = vh + 1;
        }
    }

    struct pkt_rec rec = {};
    rec.len = bytes;
    rec.vlan = vlan;
    void *l4;
    u8 l4proto;
    int frag = 0;
    int action = XDP_PASS;

    if (h_proto == ETH_P_IP_BE) {
        struct iphdr *ip = cur;
        if ((void *)(ip + 1) > data_end) {
            add(S_PARSE_ERR, 1);
            return account(P_NON_IP, bytes, XDP_PASS);
        }
        u32 ihl = ip->ihl * 4;
        if (ihl < sizeof(*ip)) {
            add(S_PARSE_ERR, 1);
            return account(P_NON_IP, bytes, XDP_PASS);
        }
        add(S_IPV4, 1);
        rec.family = 4;
        __builtin_memcpy(rec.saddr, &ip->saddr, 4);
        __builtin_memcpy(rec.daddr, &ip->daddr, 4);
        l4proto = ip->protocol;
        frag = (ip->frag_off & htons(0x1fff)) != 0;
        l4 = (void *)ip + ihl;
        struct lpm_v4 key = {.prefixlen = 32};
        __builtin_memcpy(key.addr, &ip->saddr, 4);
        if (blocked(block_v4.lookup(&key)))
            action = XDP_DROP;
    } else if (h_proto == ETH_P_IPV6_BE) {
        struct ipv6hdr *ip6 = cur;
        if ((void *)(ip6 + 1) > data_end) {
            add(S_PARSE_ERR, 1);
            return account(P_NON_IP, bytes, XDP_PASS);
        }
        add(S_IPV6, 1);
        rec.family = 6;
        __builtin_memcpy(rec.saddr, &ip6->saddr, 16);
        __builtin_memcpy(rec.daddr, &ip6->daddr, 16);
        l4proto = ip6->nexthdr;
        l4 = ip6 + 1;
        struct lpm_v6 key = {.prefixlen = 128};
        __builtin_memcpy(key.addr, &ip6->saddr, 16);
        if (blocked(block_v6.lookup(&key)))
            action = XDP_DROP;
        // Skip a bounded number of extension headers to reach the transport header.
#pragma unroll
        for (int i = 0; i < 4; i++) {
            if (l4proto == IPPROTO_HOPOPTS || l4proto == IPPROTO_ROUTING || l4proto == IPPROTO_DSTOPTS) {
                u8 *eh = l4;
                if ((void *)(eh + 2) > data_end) {
                    frag = 1;  // cannot reach L4: report without ports
                    break;
                }
                l4proto = eh[0];
                l4 = eh + ((u32)eh[1] + 1) * 8;
            } else if (l4proto == IPPROTO_FRAGMENT) {
                u8 *eh = l4;
                if ((void *)(eh + 8) > data_end) {
                    frag = 1;
                    break;
                }
                l4proto = eh[0];
                if ((eh[2] << 8 | eh[3]) & 0xfff8)
                    frag = 1;  // a non-first fragment carries no L4 header
                l4 = eh + 8;
            }
        }
    } else {
        return account(P_NON_IP, bytes, XDP_PASS);
    }

    rec.proto = l4proto;
    int class = P_OTHER_L4;
    int always = action == XDP_DROP;
    int udp_ports = 0;  // a passed UDP packet with its ports parsed: a port-scan candidate

    if (l4proto == IPPROTO_TCP) {
        class = P_TCP;
        struct tcphdr *tcp = l4;
        if (!frag) {
            if ((void *)(tcp + 1) > data_end) {
                add(S_PARSE_ERR, 1);
            } else {
                rec.sport = ntohs(tcp->source);
                rec.dport = ntohs(tcp->dest);
                u8 flags = ((u8 *)tcp)[13];
                rec.tcp_flags = flags;
                if (action == XDP_PASS && (flags & 0x12) == 0x02) {
                    // A bare SYN: remember the flow so the closing ACK can be recognised.
                    struct flow_key fk = {};
                    __builtin_memcpy(fk.saddr, rec.saddr, 16);
                    __builtin_memcpy(fk.daddr, rec.daddr, 16);
                    fk.sport = rec.sport;
                    fk.dport = rec.dport;
                    fk.family = rec.family;
                    u64 now = bpf_ktime_get_ns();
                    syn_pending.update(&fk, &now);
                    always = 1;
                } else if (action == XDP_PASS && flags == 0x10) {
                    struct flow_key fk = {};
                    __builtin_memcpy(fk.saddr, rec.saddr, 16);
                    __builtin_memcpy(fk.daddr, rec.daddr, 16);
                    fk.sport = rec.sport;
                    fk.dport = rec.dport;
                    fk.family = rec.family;
                    if (syn_pending.lookup(&fk)) {
                        syn_pending.delete(&fk);
                        rec.rflags |= REC_F_HANDSHAKE_DONE;
                        add(S_HANDSHAKES, 1);
                        always = 1;
                    }
                }
            }
        }
    } else if (l4proto == IPPROTO_UDP) {
        class = P_UDP;
        struct udphdr *udp = l4;
        if (!frag) {
            if ((void *)(udp + 1) > data_end) {
                add(S_PARSE_ERR, 1);
            } else {
                rec.sport = ntohs(udp->source);
                rec.dport = ntohs(udp->dest);
                udp_ports = action == XDP_PASS;
            }
        }
    } else if (l4proto == IPPROTO_ICMP || l4proto == IPPROTO_ICMPV6) {
        class = l4proto == IPPROTO_ICMP ? P_ICMP : P_ICMP6;
        u8 *ic = l4;
        if (!frag) {
            if ((void *)(ic + 2) > data_end) {
                add(S_PARSE_ERR, 1);
            } else {
                rec.sport = ic[0];
                rec.dport = ic[1];
            }
        }
    }

    account(class, bytes, action);

    if (!always) {
        int ck = C_SAMPLE_RATE;
        u32 *rate = config.lookup(&ck);
        if (rate && *rate > 1 && !(udp_ports && port_first_seen(&rec)) &&
            bpf_get_prandom_u32() % *rate != 0)
            return action;
    }
    rec.ts_ns = bpf_ktime_get_ns();
    rec.action = action;
    if (events.ringbuf_output(&rec, sizeof(rec), 0) != 0)
        add(S_RB_FULL, 1);
    else
        add(S_RECORDS, 1);
    return action;
}
