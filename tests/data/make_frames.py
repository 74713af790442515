#!/usr/bin/python3
"""Writes the packet-module golden fixtures with scapy.

Run with the system interpreter (scapy is installed there):
    /usr/bin/python3 tests/data/make_frames.py

Outputs (all committed):
  tests/data/frames/<name>.bin      one raw Ethernet frame (no FCS), padded to 60 bytes
  tests/data/frames/expectations.txt  one line per frame: name key=value ... as scapy sees it
  tests/data/frames/all.pcap         every frame, for Wireshark/tcpdump
  tests/fuzz/corpus/frame/<name>     the same bytes as libFuzzer seeds
"""

import os
import shutil

from scapy.all import (
    ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6EchoRequest, ICMPv6ND_NA,
    ICMPv6NDOptDstLLAddr, IPOption_Router_Alert, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw, fragment, wrpcap)

HERE = os.path.dirname(os.path.abspath(__file__))
FRAMES = os.path.join(HERE, "frames")
CORPUS = os.path.join(HERE, "..", "fuzz", "corpus", "frame")

CLIENT_MAC = "02:00:00:00:02:00"
SERVER_MAC = "02:00:00:00:01:00"
CLIENT4, SERVER4 = "10.0.0.2", "10.0.0.1"
CLIENT6, SERVER6 = "2001:db8::2", "2001:db8::1"

# Parameters of the builder fixtures; tests/unit/packet/golden_test.cpp uses the same.
GARP_MAC, GARP_IP, GARP_IP6 = SERVER_MAC, SERVER4, SERVER6
REQUESTER_MAC, REQUESTER_IP = CLIENT_MAC, CLIENT4
VLAN_PRIO, VLAN_ID = 1, 100  # TCI 0x2064


def eth(dst=SERVER_MAC, src=CLIENT_MAC):
    return Ether(dst=dst, src=src)


def parsed_frames():
    """(name, packet) for frames the parser is checked against."""
    syn_opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456789, 0)), ("NOP", None),
                ("WScale", 7)]
    yield "tcp_syn_all_options", eth() / IP(src=CLIENT4, dst=SERVER4, ttl=64, id=1) / TCP(
        sport=40000, dport=80, seq=0xFFFFFFF0, flags="S", window=64240, options=syn_opts)
    # Timestamp right after the 3-byte window-scale option: TSval is odd-aligned.
    yield "tcp_odd_timestamp", eth() / IP(src=CLIENT4, dst=SERVER4) / TCP(
        sport=40001, dport=80, seq=1000, ack=2000, flags="SA",
        options=[("WScale", 2), ("Timestamp", (0xDEADBEEF, 0x01020304))])
    yield "tcp_sack_ack", eth() / IP(src=CLIENT4, dst=SERVER4) / TCP(
        sport=40000, dport=80, seq=0x10, ack=0x7FFFFFFF, flags="A", window=501,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (1000, 2000)), ("NOP", None),
                 ("NOP", None), ("SAck", (100, 200, 300, 400, 500, 600))]) / Raw(b"hello")
    yield "tcp_sack_four_blocks", eth() / IP(src=CLIENT4, dst=SERVER4) / TCP(
        sport=40000, dport=80, seq=1, ack=2, flags="A",
        options=[("NOP", None), ("NOP", None),
                 ("SAck", (1, 2, 3, 4, 0xFFFFFFF0, 0x10, 7, 8))])
    yield "tcp_padded_ack", eth() / IP(src=SERVER4, dst=CLIENT4) / TCP(
        sport=80, dport=40000, seq=5, ack=6, flags="A")
    yield "tcp_psh_payload", eth() / IP(src=CLIENT4, dst=SERVER4) / TCP(
        sport=40000, dport=80, seq=77, ack=88, flags="PA") / Raw(b"GET / HTTP/1.0\r\n\r\n")
    yield "vlan_tcp", eth() / Dot1Q(prio=VLAN_PRIO, vlan=VLAN_ID) / IP(
        src=CLIENT4, dst=SERVER4) / TCP(sport=40000, dport=443, flags="S",
                                        options=[("MSS", 1400)])
    yield "qinq_tcp", eth() / Dot1AD(vlan=300) / Dot1Q(vlan=VLAN_ID) / IP(
        src=CLIENT4, dst=SERVER4) / TCP(sport=40000, dport=443, seq=9, ack=10, flags="A") / Raw(
            b"data")
    yield "ipv4_options_tcp", eth() / IP(src=CLIENT4, dst=SERVER4,
                                         options=[IPOption_Router_Alert()]) / TCP(
        sport=40000, dport=80, flags="A") / Raw(b"x")
    yield "ipv6_tcp", eth() / IPv6(src=CLIENT6, dst=SERVER6, hlim=64) / TCP(
        sport=40000, dport=80, flags="S", options=syn_opts)
    yield "ipv6_ext_tcp", eth() / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrHopByHop() / \
        IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(addresses=[], segleft=0) / TCP(
            sport=40000, dport=80, seq=3, ack=4, flags="PA",
            options=[("NOP", None), ("NOP", None), ("Timestamp", (5, 6))]) / Raw(b"payload")
    yield "vlan_ipv6_udp", eth() / Dot1Q(vlan=VLAN_ID) / IPv6(src=CLIENT6, dst=SERVER6) / UDP(
        sport=5353, dport=53) / Raw(b"query")
    yield "udp_ipv4", eth() / IP(src=CLIENT4, dst=SERVER4) / UDP(sport=5000, dport=6000) / Raw(
        b"udp payload bytes")
    yield "udp_ipv6", eth() / IPv6(src=CLIENT6, dst=SERVER6) / UDP(sport=5000, dport=6000) / Raw(
        b"v6 datagram")
    yield "icmp_echo", eth() / IP(src=CLIENT4, dst=SERVER4) / ICMP(type=8, code=0, id=1, seq=2) / Raw(
        b"ping")
    yield "icmpv6_echo", eth() / IPv6(src=CLIENT6, dst=SERVER6) / ICMPv6EchoRequest(id=1, seq=2) / Raw(
        b"ping6")
    yield "arp_request", Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT_MAC) / ARP(
        op=1, hwsrc=CLIENT_MAC, psrc=CLIENT4, hwdst="00:00:00:00:00:00", pdst=SERVER4)
    big = IP(src=CLIENT4, dst=SERVER4, id=7) / UDP(sport=7000, dport=7001) / Raw(b"F" * 100)
    frags = fragment(big, fragsize=64)
    yield "ipv4_fragment_first", eth() / frags[0]
    yield "ipv4_fragment_second", eth() / frags[1]
    yield "ipv6_fragment_first", eth() / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrFragment(
        offset=0, m=1, id=42) / UDP(sport=7000, dport=7001, len=200, chksum=0x1234) / Raw(b"A" * 16)
    yield "ipv6_fragment_second", eth() / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrFragment(
        offset=3, m=0, id=42, nh=17) / Raw(b"B" * 16)


def builder_frames():
    """(name, packet) for frames ftproxy builds itself (compared byte for byte)."""
    bcast = "ff:ff:ff:ff:ff:ff"
    garp_req = ARP(op=1, hwsrc=GARP_MAC, psrc=GARP_IP, hwdst="00:00:00:00:00:00", pdst=GARP_IP)
    garp_rep = ARP(op=2, hwsrc=GARP_MAC, psrc=GARP_IP, hwdst=GARP_MAC, pdst=GARP_IP)
    arp_rep = ARP(op=2, hwsrc=GARP_MAC, psrc=GARP_IP, hwdst=REQUESTER_MAC, pdst=REQUESTER_IP)
    tag = Dot1Q(prio=VLAN_PRIO, vlan=VLAN_ID)
    na = IPv6(src=GARP_IP6, dst="ff02::1", hlim=255) / ICMPv6ND_NA(
        R=0, S=0, O=1, tgt=GARP_IP6) / ICMPv6NDOptDstLLAddr(lladdr=GARP_MAC)
    yield "garp_request", Ether(dst=bcast, src=GARP_MAC) / garp_req
    yield "garp_request_vlan", Ether(dst=bcast, src=GARP_MAC) / tag / garp_req
    yield "garp_reply", Ether(dst=bcast, src=GARP_MAC) / garp_rep
    yield "arp_reply", Ether(dst=REQUESTER_MAC, src=GARP_MAC) / arp_rep
    yield "arp_reply_vlan", Ether(dst=REQUESTER_MAC, src=GARP_MAC) / tag / arp_rep
    yield "unsolicited_na", Ether(dst="33:33:00:00:00:01", src=GARP_MAC) / na
    yield "unsolicited_na_vlan", Ether(dst="33:33:00:00:00:01", src=GARP_MAC) / tag / na


def offset_of(pkt, layer):
    raw = bytes(pkt)
    return len(raw) - len(bytes(pkt[layer]))


def describe(name, pkt):
    """Expected parse results, from scapy's own view of the frame."""
    raw = bytes(pkt)
    d = Ether(raw + b"\0" * max(0, 60 - len(raw)))  # the frame as written, re-dissected
    kv = {"len": max(60, len(raw))}
    tags = []
    layer = d.payload
    while isinstance(layer, (Dot1Q, Dot1AD)):
        tags.append((layer.prio << 13) | (layer.id << 12) | layer.vlan)
        layer = layer.payload
    kv["vlan_count"] = len(tags)
    for i, tci in enumerate(tags):
        kv["vlan%d" % i] = tci
    l3_offset = 14 + 4 * len(tags)
    kv["l3_offset"] = l3_offset
    if ARP in d:
        a = d[ARP]
        kv.update(l3="arp", arp_op=a.op, arp_sha=a.hwsrc, arp_spa=a.psrc, arp_tha=a.hwdst,
                  arp_tpa=a.pdst)
        return kv
    if IP in d:
        ip = d[IP]
        kv.update(l3="ipv4", src=ip.src, dst=ip.dst, proto=ip.proto, ttl=ip.ttl,
                  ip_end=l3_offset + ip.len, ip_csum=ip.chksum)
        frag = ip.frag != 0 or (ip.flags & 1) != 0  # MF
        kv["frag"] = int(frag)
        kv["first_frag"] = int(ip.frag == 0)
        l4_first = ip.frag == 0
        l4 = ip.payload
    else:
        ip6 = d[IPv6]
        kv.update(l3="ipv6", src=ip6.src, dst=ip6.dst, ttl=ip6.hlim,
                  ip_end=l3_offset + 40 + ip6.plen)
        l4 = ip6.payload
        frag = False
        l4_first = True
        while isinstance(l4, (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting,
                              IPv6ExtHdrFragment)):
            if isinstance(l4, IPv6ExtHdrFragment):
                frag = True
                l4_first = l4.offset == 0
            last_nh = l4.nh
            l4 = l4.payload
        kv["proto"] = last_nh if l4 is not ip6.payload else ip6.nh
        kv["frag"] = int(frag)
        kv["first_frag"] = int(l4_first)
    if not l4_first:
        kv["l4"] = "none"
        return kv
    l4_offset = offset_of(d, type(l4))
    kv["l4_offset"] = l4_offset
    kv["l4_len"] = kv["ip_end"] - l4_offset
    if TCP in d:
        t = d[TCP]
        kv.update(l4="tcp", sport=t.sport, dport=t.dport, seq=t.seq, ack=t.ack,
                  flags=int(t.flags) & 0xFF, window=t.window, hlen=t.dataofs * 4,
                  l4_csum=t.chksum, payload_len=kv["l4_len"] - t.dataofs * 4)
        for opt, val in t.options:
            if opt == "MSS":
                kv["mss"] = val
            elif opt == "WScale":
                kv["wscale"] = val
            elif opt == "SAckOK":
                kv["sackok"] = 1
            elif opt == "Timestamp":
                kv["tsval"], kv["tsecr"] = val
            elif opt == "SAck":
                kv["sack"] = ",".join(str(v) for v in val)
    elif UDP in d:
        u = d[UDP]
        kv.update(l4="udp", sport=u.sport, dport=u.dport, ulen=u.len, l4_csum=u.chksum,
                  payload_len=kv["l4_len"] - 8)
    elif ICMP in d:
        c = d[ICMP]
        kv.update(l4="icmp", type=c.type, code=c.code, l4_csum=c.chksum,
                  payload_len=kv["l4_len"] - 4)
    else:
        c = l4  # ICMPv6 layers share type/code/cksum
        kv.update(l4="icmpv6", type=c.type, code=c.code, l4_csum=c.cksum,
                  payload_len=kv["l4_len"] - 4)
    return kv


def main():
    os.makedirs(FRAMES, exist_ok=True)
    os.makedirs(CORPUS, exist_ok=True)
    lines, all_raw = [], []
    for name, pkt in list(parsed_frames()) + list(builder_frames()):
        raw = bytes(pkt)
        raw += b"\0" * max(0, 60 - len(raw))
        with open(os.path.join(FRAMES, name + ".bin"), "wb") as f:
            f.write(raw)
        shutil.copyfile(os.path.join(FRAMES, name + ".bin"), os.path.join(CORPUS, name))
        kv = describe(name, pkt)
        lines.append(name + " " + " ".join("%s=%s" % (k, v) for k, v in kv.items()))
        rec = Ether(raw)
        rec.time = 1700000000 + len(all_raw)  # fixed timestamps: reruns are byte-identical
        all_raw.append(rec)
    with open(os.path.join(FRAMES, "expectations.txt"), "w") as f:
        f.write("# Generated by tests/data/make_frames.py from scapy's dissection; do not edit.\n")
        f.write("\n".join(lines) + "\n")
    wrpcap(os.path.join(FRAMES, "all.pcap"), all_raw)


if __name__ == "__main__":
    main()
