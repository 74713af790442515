// The proxy's and the arbiter's TOML configuration, validated at start-up.
// Loading is control-plane code: it may allocate and reports every problem as a
// message that names the key ("failover.timeout_ms: must be > heartbeat_ms ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ftproxy/io/packet_io.hpp"
#include "ftproxy/packet/addr.hpp"

namespace ftproxy::control {

enum class Role : std::uint8_t { standalone, primary, backup };
const char* to_string(Role r) noexcept;

struct Endpoint {
  std::string host;  // numeric IPv4/IPv6 address or a host name
  std::uint16_t port = 0;
  std::string to_string() const;
};

struct NodeSection {
  std::string name;                      // required, [A-Za-z0-9_.-]{1,64}
  Role role = Role::standalone;          // required
  std::string cluster;                   // required, [A-Za-z0-9_.-]{1,64}
  std::uint32_t realtime_priority = 10;  // SCHED_RR priority of the proxy (0 = normal scheduling)
  std::uint64_t epoch = 1;               // the pair's arbitration epoch (>= 1); both sides use the same
  std::string user;                      // run as this user once the ports are open ("" = stay as started)
};

struct PortsSection {
  std::string backend = "pcap";  // pcap | pcap-file | memory | dpdk
  std::string ext;               // interface (pcap/dpdk) or memory port name; required
  std::string int_;              // key "int"; required
  // pcap-file backend only: captures to read as rx / write tx to.
  std::string ext_rx_file, ext_tx_file, int_rx_file, int_tx_file;
  bool repair_checksums = true;                             // fix wrong L4 checksums of frames from int
  io::OffloadPolicy offloads = io::OffloadPolicy::disable;  // "disable" | "refuse" | "ignore"
  std::uint32_t ring_mb = 32;                               // 1..1024
  std::uint32_t burst = 64;                                 // 1..1024
};

struct ControlSection {
  Endpoint listen{"127.0.0.1", 9100};  // HTTP /metrics and /status; port 0 = ephemeral
  std::string token_file;              // mutating actions need this token ("" = none)
};

struct ServiceSection {
  std::vector<packet::IpAddr> ips;     // the shared service addresses (required for primary/backup)
  std::optional<packet::MacAddr> mac;  // the shared service MAC (required for primary/backup)
  std::uint16_t vlan = 0;              // 0 = untagged, else 1..4094 (GARP is tagged with it)
};

struct LogSection {
  std::optional<Endpoint> listen;             // backup: where the log channel is accepted
  std::optional<Endpoint> peer;               // primary: the backup's log endpoint
  std::uint32_t max_unacked_entries = 65536;  // primary resend buffer bound
  std::uint64_t max_unacked_bytes = 64ull << 20;
  std::uint32_t batch_bytes = 64 * 1024;  // coalesce records up to this per write
  std::string key_file;                   // pre-shared key ("" = no authentication)
  bool tls = false;                       // TLS 1.3 with mutual certificates on the log connection
  std::string tls_cert_file;              // tls: this node's certificate (PEM), shown to the peer
  std::string tls_key_file;               // tls: its private key (PEM, mode 0600/0400)
  std::string tls_ca_file;                // tls: CA the peer's certificate must chain to (PEM)
};

struct FailoverSection {
  std::uint32_t heartbeat_ms = 5;  // 1..10000
  std::uint32_t timeout_ms = 60;   // > 2 * heartbeat_ms, <= 600000
  std::string probe_command;       // optional local health probe ("" = none)
  std::uint32_t probe_interval_ms = 1000;
  std::uint32_t probe_timeout_ms = 500;
  std::uint32_t join_timeout_ms = 0;  // primary: go live alone if no backup joined by then (0 = wait)
};

struct ArbiterClientSection {
  std::string backend = "embedded";  // embedded | etcd
  std::vector<Endpoint> endpoints;   // required for primary/backup
  std::uint32_t timeout_ms = 200;    // per request
  std::uint32_t retry_ms = 50;       // first retry back-off (doubles up to 1 s)
  std::string key_file;              // embedded: the cluster's pre-shared key (mode 0600/0400)
  std::string username;              // etcd: user for etcd's auth ("" = auth off)
  std::string password_file;         // etcd: file holding that user's password (mode 0600)
  bool tls = false;                  // etcd: HTTPS to the endpoints (verified against tls_ca_file)
  std::string tls_ca_file;           // etcd: CA bundle that signed the etcd server certs ("" = system)
  std::string tls_cert_file;         // etcd: client certificate (PEM), with tls_key_file
  std::string tls_key_file;          // etcd: the client certificate's private key (PEM, mode 0600)
  std::string tls_server_name;       // etcd: name checked in the server cert ("" = the endpoint host)
};

struct GarpSection {
  std::uint32_t count = 5;         // frames per burst, 1..100
  std::uint32_t interval_ms = 20;  // between frames of a burst
  std::uint32_t refresh_s = 10;    // repeat a single GARP this often while live (0 = never)
  bool reply_form = true;          // also send the reply form (target MAC = sender MAC)
};

struct TcpSection {
  std::uint32_t max_flows = 65536;
  std::uint32_t idle_timeout_s = 600;     // idle flows are evicted after this
  std::uint32_t closed_linger_s = 5;      // closed (FIN/RST) flows are evicted after this
  std::uint32_t wait_queue_frames = 256;  // per flow, while the delta is unknown
  std::uint32_t hold_ms = 2000;           // max time a client segment is held at the backup
};

// Divergence detection (OUTPUT_DIGEST entries); both proxies must use the same values.
struct ReplicationSection {
  bool output_digests = true;                // primary sends, backup compares output digests
  std::uint32_t digest_chunk_bytes = 65536;  // one checkpoint per this many output bytes per flow
  std::uint32_t digest_idle_ms = 50;         // a flow quiet this long gets a checkpoint at its end
  std::uint32_t digest_max_flows = 16384;    // digest table capacity (quiet flows evicted first)
};

struct DpdkSection {
  std::vector<std::string> eal_args;  // EAL argv (empty = --no-huge --no-pci af_packet defaults)
  std::string ext_device;             // PCI address or vdev name for ext ("" = af_packet on ports.ext)
  std::string int_device;             // ... for int ("" = af_packet on ports.int)
  std::string vdev_driver = "auto";   // no device: auto (af_xdp, else af_packet) | af_xdp | af_packet
  std::uint32_t mbufs = 4095;         // per-port mbuf pool, 255..1048575
  std::uint32_t rx_desc = 1024;       // 64..16384
  std::uint32_t tx_desc = 1024;       // 64..16384
  bool busy_poll = false;             // poll the ports back to back instead of the idle back-off
};

struct LoggingSection {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string format = "text";  // text | json
};

struct ProxyConfig {
  std::string source_path;
  NodeSection node;
  PortsSection ports;
  ControlSection control;
  ServiceSection service;
  LogSection log;
  FailoverSection failover;
  ArbiterClientSection arbiter;
  GarpSection garp;
  TcpSection tcp;
  ReplicationSection replication;
  DpdkSection dpdk;
  LoggingSection logging;
};

struct ArbiterServerConfig {
  std::string source_path;
  Endpoint listen{"127.0.0.1", 7500};
  std::string data_dir;  // required; flags persist here
  std::string key_file;  // key for every cluster not in cluster_keys ("" = none)
  // [cluster_keys] cluster name -> key file: that cluster's own key.
  std::vector<std::pair<std::string, std::string>> cluster_keys;
  bool allow_unauthenticated = false;       // serve clusters that have no key without auth
  Endpoint control_listen{"127.0.0.1", 0};  // optional HTTP /metrics, /status; port 0 = off
  LoggingSection logging;
};

// Parse + validate. On failure returns nullopt and appends one message per problem to
// `errors` (all problems found, not just the first). Never throws.
std::optional<ProxyConfig> load_proxy_config(const std::string& path, std::vector<std::string>& errors);
std::optional<ProxyConfig> parse_proxy_config(std::string_view toml_text, const std::string& source_name,
                                              std::vector<std::string>& errors);
std::optional<ArbiterServerConfig> load_arbiter_config(const std::string& path,
                                                       std::vector<std::string>& errors);
std::optional<ArbiterServerConfig> parse_arbiter_config(std::string_view toml_text,
                                                        const std::string& source_name,
                                                        std::vector<std::string>& errors);
std::optional<Endpoint> parse_endpoint(std::string_view text);

// Checks that need the machine (interfaces exist, files readable). Appends messages.
void check_proxy_environment(const ProxyConfig& cfg, std::vector<std::string>& errors);

}  // namespace ftproxy::control
