# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of ironpost/ebpf/pktdecode_py.py (same functions, same results).

drain(): copy records out of the mmapped BPF ring buffer into a flat batch, then release the
space to the kernel. decode(): one C pass over a batch; Python objects are made only for the
aggregates the detectors need (SYN-bearing flows, scan ports) and for at most `pick_limit`
records that become PacketEvents. Layout: ironpost/ebpf/layout.py.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize

cdef extern from *:
    """
    static inline unsigned long long ipd_load_acq64(const void *p) {
        return __atomic_load_n((const unsigned long long *)p, __ATOMIC_ACQUIRE);
    }
    static inline unsigned int ipd_load_acq32(const void *p) {
        return __atomic_load_n((const unsigned int *)p, __ATOMIC_ACQUIRE);
    }
    static inline void ipd_store_rel64(void *p, unsigned long long v) {
        __atomic_store_n((unsigned long long *)p, v, __ATOMIC_RELEASE);
    }
    """
    unsigned long long ipd_load_acq64(const void *p) nogil
    unsigned int ipd_load_acq32(const void *p) nogil
    void ipd_store_rel64(void *p, unsigned long long v) nogil

cdef enum:
    REC_SIZE = 56  # struct pkt_rec
    RB_HDR = 8     # kernel ring buffer record header: u32 len|flags, u32 page offset
cdef unsigned int RB_BUSY = 0x80000000U      # record reserved, not yet committed
cdef unsigned int RB_DISCARD = 0x40000000U   # record discarded by the producer

cdef object V6_FLAG = 1 << 128


def drain(unsigned char[::1] cons_page, const unsigned char[::1] ring, Py_ssize_t page_size,
          unsigned long long mask, unsigned char[::1] out, Py_ssize_t max_records):
    """Copy up to max_records committed records; returns (copied, skipped_bad_size)."""
    cdef unsigned char *cp = &cons_page[0]
    cdef const unsigned char *base = &ring[0]
    cdef const unsigned char *data = base + page_size
    cdef unsigned long long cons = ipd_load_acq64(cp)
    cdef unsigned long long prod = ipd_load_acq64(base)
    cdef unsigned int hdr, ln
    cdef Py_ssize_t n = 0, bad = 0
    cdef unsigned char *o = &out[0]
    if max_records * REC_SIZE > out.shape[0]:
        max_records = out.shape[0] // REC_SIZE
    while cons < prod and n < max_records:
        hdr = ipd_load_acq32(data + (cons & mask))
        if hdr & RB_BUSY:
            break
        ln = hdr & ~(RB_BUSY | RB_DISCARD)
        if not (hdr & RB_DISCARD):
            if ln == REC_SIZE:
                # The data pages are mapped twice back to back, so a record never wraps.
                memcpy(o + n * REC_SIZE, data + (cons & mask) + RB_HDR, REC_SIZE)
                n += 1
            else:
                bad += 1
        cons += (ln + RB_HDR + 7) & ~7ULL
    ipd_store_rel64(cp, cons)
    return n, bad


cdef inline object addr_key(const unsigned char *a, int family):
    cdef uint64_t hi, lo
    cdef int i
    if family == 4:
        return (<uint32_t>a[0] << 24) | (<uint32_t>a[1] << 16) | (<uint32_t>a[2] << 8) | a[3]
    hi = 0
    lo = 0
    for i in range(8):
        hi = (hi << 8) | a[i]
        lo = (lo << 8) | a[8 + i]
    return ((<object>hi) << 64) | (<object>lo) | V6_FLAG


def decode(const unsigned char[::1] buf, Py_ssize_t n, Py_ssize_t pick_limit,
           unsigned long long slot_ns=1000000000ULL):
    """Returns (counts, syn, scan, picked); slot = a record's ts_ns // slot_ns (packet time):
    counts = (records, bad, tcp, udp, icmp, other, syns, handshakes, drops)
    syn    = {(dst_key, src_key, slot): [syns, handshakes, first_syn_index or -1]}
             bare SYNs passed / handshakes completed
    scan   = {src_key: {dst_port: [latest_slot, index of its first record in that slot]}}
             passed bare SYNs and UDP
    picked = [(family, saddr, daddr, sport, dport, proto, tcp_flags, length, action, ts_ns, vlan, rflags)]
    Indexes are record positions in buf, for detectors to name the packet that triggered them.
    """
    cdef const unsigned char *r
    cdef Py_ssize_t i, alen
    cdef uint8_t family, proto, flags, action, rflags
    cdef uint16_t sport, dport, vlan
    cdef uint32_t length
    cdef uint64_t ts, slot, cur_slot = 0
    cdef Py_ssize_t records = 0, bad = 0, tcp = 0, udp = 0, icmp = 0, other = 0
    cdef Py_ssize_t syns = 0, hs = 0, drops = 0, picked_n = 0
    cdef bint is_syn, is_done
    cdef dict syn = {}
    cdef dict scan = {}
    cdef list picked = []
    cdef object k, sk, dk, slot_obj = None
    cdef list cell
    cdef dict ports
    if slot_ns == 0:
        raise ValueError("slot_ns must be > 0")
    if n * REC_SIZE > buf.shape[0]:
        n = buf.shape[0] // REC_SIZE
    for i in range(n):
        r = &buf[i * REC_SIZE]
        family = r[51]
        if family != 4 and family != 6:
            bad += 1
            continue
        records += 1
        memcpy(&ts, r, 8)
        memcpy(&sport, r + 40, 2)
        memcpy(&dport, r + 42, 2)
        memcpy(&length, r + 44, 4)
        proto = r[48]
        flags = r[49]
        action = r[50]
        memcpy(&vlan, r + 52, 2)
        rflags = r[54]
        if proto == 6:
            tcp += 1
        elif proto == 17:
            udp += 1
        elif proto == 1 or proto == 58:
            icmp += 1
        else:
            other += 1
        if action == 1:
            drops += 1
        is_syn = proto == 6 and action == 2 and (flags & 0x12) == 0x02
        is_done = proto == 6 and action == 2 and (rflags & 1) != 0
        if is_syn or is_done or (action == 2 and proto == 17):
            slot = ts // slot_ns
            if slot_obj is None or slot != cur_slot:  # records come in time order: one int per slot
                cur_slot = slot
                slot_obj = slot
        if is_syn or is_done:
            sk = addr_key(r + 8, family)
            dk = addr_key(r + 24, family)
            k = (dk, sk, slot_obj)
            cell = syn.get(k)
            if cell is None:
                cell = [0, 0, -1]
                syn[k] = cell
            if is_syn:
                syns += 1
                cell[0] += 1
                if cell[2] == -1:
                    cell[2] = i
            else:
                hs += 1
                cell[1] += 1
        if action == 2 and (is_syn or proto == 17):
            if not is_syn:
                sk = addr_key(r + 8, family)
            ports = scan.get(sk)
            if ports is None:
                ports = {}
                scan[sk] = ports
            cell = ports.get(dport)
            if cell is None:
                ports[dport] = [slot_obj, i]
            elif <uint64_t>cell[0] < cur_slot:
                cell[0] = slot_obj
                cell[1] = i
        if picked_n < pick_limit:
            alen = 4 if family == 4 else 16
            picked.append((family, PyBytes_FromStringAndSize(<const char *>r + 8, alen),
                           PyBytes_FromStringAndSize(<const char *>r + 24, alen),
                           sport, dport, proto, flags, length, action, ts, vlan, rflags))
            picked_n += 1
    return (records, bad, tcp, udp, icmp, other, syns, hs, drops), syn, scan, picked
