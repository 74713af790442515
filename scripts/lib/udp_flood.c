// udp_flood: send COUNT minimum-size Ethernet frames (60 bytes + FCS = 64 on the wire:
// IPv4/UDP with an 18-byte payload) as fast as possible from one interface, for the
// small-packet rate test of scripts/bench-dpdk.sh (pktgen is not available here).
// Raw AF_PACKET socket with the qdisc bypassed, sendmmsg() in batches of 64; the UDP
// source port cycles over 256 values so the frames are not all one flow.
//
// Build: cc -O2 -o udp_flood scripts/lib/udp_flood.c
// Usage: udp_flood IFACE DST_MAC DST_IP COUNT [MAX_SECONDS [DST_PORT]]
// Stops after COUNT frames or MAX_SECONDS (default 10), whichever comes first.
// Prints: "sent=N seconds=S pps=R" (frames the kernel accepted; ENOBUFS is retried).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kFrameLen = 60, kBatch = 64, kPorts = 256 };

static uint16_t ip_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s IFACE DST_MAC DST_IP COUNT [MAX_SECONDS [DST_PORT]]\n", argv[0]);
    return 2;
  }
  const char* ifname = argv[1];
  unsigned mac[6];
  if (sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
    fprintf(stderr, "bad MAC %s\n", argv[2]);
    return 2;
  }
  struct in_addr dst;
  if (inet_pton(AF_INET, argv[3], &dst) != 1) {
    fprintf(stderr, "bad IPv4 address %s\n", argv[3]);
    return 2;
  }
  const long long count = atoll(argv[4]);
  const double max_s = argc > 5 ? atof(argv[5]) : 10.0;
  const int dport = argc > 6 ? atoi(argv[6]) : 9;

  int fd = socket(AF_PACKET, SOCK_RAW, 0);  // protocol 0: send only, receive nothing
  if (fd < 0) {
    perror("socket(AF_PACKET)");
    return 1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
    perror("SIOCGIFINDEX");
    return 1;
  }
  const int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    perror("SIOCGIFHWADDR");
    return 1;
  }
  uint8_t src_mac[6];
  memcpy(src_mac, ifr.ifr_hwaddr.sa_data, 6);
  if (ioctl(fd, SIOCGIFADDR, &ifr) < 0) {
    perror("SIOCGIFADDR (the interface needs an IPv4 address)");
    return 1;
  }
  const struct in_addr src = ((struct sockaddr_in*)&ifr.ifr_addr)->sin_addr;
  const int one = 1;
  (void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_halen = 6;
  for (int i = 0; i < 6; ++i) sll.sll_addr[i] = (uint8_t)mac[i];
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) < 0) {
    perror("bind");
    return 1;
  }

  // kPorts frames differing in the UDP source port; a batch walks through them.
  static uint8_t frames[kPorts][kFrameLen];
  for (int k = 0; k < kPorts; ++k) {
    uint8_t* f = frames[k];
    memset(f, 0, kFrameLen);
    for (int i = 0; i < 6; ++i) f[i] = (uint8_t)mac[i];
    memcpy(f + 6, src_mac, 6);
    f[12] = 0x08;  // IPv4
    uint8_t* ip = f + 14;
    ip[0] = 0x45;
    const uint16_t ip_len = kFrameLen - 14;
    ip[2] = (uint8_t)(ip_len >> 8);
    ip[3] = (uint8_t)ip_len;
    ip[8] = 64;  // TTL
    ip[9] = 17;  // UDP
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    const uint16_t csum = ip_checksum(ip, 20);
    ip[10] = (uint8_t)(csum >> 8);
    ip[11] = (uint8_t)csum;
    uint8_t* udp = ip + 20;
    const uint16_t sport = (uint16_t)(40000 + k);
    udp[0] = (uint8_t)(sport >> 8);
    udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8);
    udp[3] = (uint8_t)dport;
    udp[4] = 0;
    udp[5] = (uint8_t)(ip_len - 20);  // UDP length; checksum 0 = none (IPv4)
  }

  struct mmsghdr msgs[kBatch];
  struct iovec iov[kBatch];
  long long sent = 0;
  int next = 0;
  const double t0 = now_s();
  unsigned batches = 0;
  while (sent < count) {
    if ((++batches & 63) == 0 && now_s() - t0 >= max_s) break;
    const int n = (int)(count - sent < kBatch ? count - sent : kBatch);
    for (int i = 0; i < n; ++i) {
      iov[i].iov_base = frames[(next + i) % kPorts];
      iov[i].iov_len = kFrameLen;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int r = sendmmsg(fd, msgs, (unsigned)n, 0);
    if (r < 0) {
      if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) continue;
      perror("sendmmsg");
      return 1;
    }
    sent += r;
    next = (next + r) % kPorts;
  }
  const double secs = now_s() - t0;
  printf("sent=%lld seconds=%.6f pps=%.0f\n", sent, secs, secs > 0 ? (double)sent / secs : 0.0);
  close(fd);
  return 0;
}
