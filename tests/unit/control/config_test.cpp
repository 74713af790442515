#include "ftproxy/control/config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ftproxy::control {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr const char* kStandalone = R"(
[node]
name = "p1"
role = "standalone"
cluster = "demo"
[ports]
ext = "eth0"
int = "eth1"
)";

constexpr const char* kPrimary = R"(
[node]
name = "p1"
role = "primary"
cluster = "demo"
[ports]
backend = "memory"
ext = "ext0"
int = "int0"
[service]
ips = ["10.0.0.10", "fd00::10"]
mac = "02:00:00:00:00:10"
vlan = 100
[log]
peer = "192.168.50.2:7400"
[arbiter]
endpoints = ["127.0.0.1:7500", "[::1]:7501", "arbiter.example.org:7500"]
)";

std::vector<std::string> errors_of(const std::string& text) {
  std::vector<std::string> errors;
  const auto cfg = parse_proxy_config(text, "test.toml", errors);
  EXPECT_FALSE(cfg.has_value());
  return errors;
}

TEST(ParseEndpoint, AcceptsIpv4Ipv6AndHostNames) {
  auto ep = parse_endpoint("127.0.0.1:9100");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 9100);
  EXPECT_EQ(ep->to_string(), "127.0.0.1:9100");

  ep = parse_endpoint("[::1]:7500");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 7500);
  EXPECT_EQ(ep->to_string(), "[::1]:7500");

  ep = parse_endpoint("etcd-1.example.org:2379");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "etcd-1.example.org");

  ep = parse_endpoint("0.0.0.0:0");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->port, 0);
}

TEST(ParseEndpoint, RejectsMalformed) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", ":80", "::1:7500", "[::1]7500", "[::1:7500", "[127.0.0.1]:80",
        "10.0.0:80", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:80x", "host name:80", "[zz::1]:80", "-bad:80"}) {
    EXPECT_FALSE(parse_endpoint(bad).has_value()) << bad;
  }
}

TEST(ProxyConfig, MinimalStandaloneGetsDefaults) {
  std::vector<std::string> errors;
  const auto cfg = parse_proxy_config(kStandalone, "test.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(cfg->source_path, "test.toml");
  EXPECT_EQ(cfg->node.name, "p1");
  EXPECT_EQ(cfg->node.role, Role::standalone);
  EXPECT_EQ(cfg->ports.backend, "pcap");
  EXPECT_EQ(cfg->ports.ext, "eth0");
  EXPECT_EQ(cfg->ports.int_, "eth1");
  EXPECT_EQ(cfg->ports.burst, 64u);
  EXPECT_EQ(cfg->failover.heartbeat_ms, 5u);
  EXPECT_EQ(cfg->failover.timeout_ms, 60u);
  EXPECT_EQ(cfg->control.listen.to_string(), "127.0.0.1:9100");
  EXPECT_EQ(cfg->logging.level, "info");
}

TEST(ProxyConfig, PrimaryParsesEveryField) {
  std::vector<std::string> errors;
  const auto cfg = parse_proxy_config(kPrimary, "test.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->node.role, Role::primary);
  ASSERT_THAT(cfg->service.ips, SizeIs(2));
  EXPECT_EQ(packet::to_string(cfg->service.ips[0]), "10.0.0.10");
  EXPECT_EQ(packet::to_string(cfg->service.ips[1]), "fd00::10");
  ASSERT_TRUE(cfg->service.mac);
  EXPECT_EQ(packet::to_string(*cfg->service.mac), "02:00:00:00:00:10");
  EXPECT_EQ(cfg->service.vlan, 100);
  ASSERT_TRUE(cfg->log.peer);
  EXPECT_EQ(cfg->log.peer->to_string(), "192.168.50.2:7400");
  EXPECT_FALSE(cfg->log.listen);
  ASSERT_THAT(cfg->arbiter.endpoints, SizeIs(3));
  EXPECT_EQ(cfg->arbiter.endpoints[1].host, "::1");
  EXPECT_EQ(cfg->arbiter.endpoints[2].port, 7500);
}

TEST(ProxyConfig, DpdkSection) {
  std::vector<std::string> errors;
  auto cfg = parse_proxy_config(kStandalone, "test.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_FALSE(cfg->dpdk.busy_poll);
  EXPECT_EQ(cfg->dpdk.mbufs, 4095u);
  cfg = parse_proxy_config(std::string(kStandalone) +
                               "[dpdk]\neal_args = [\"-l\", \"1\"]\next_device = \"net_af_xdp0\"\n"
                               "busy_poll = true\nrx_desc = 512\n",
                           "test.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_TRUE(cfg->dpdk.busy_poll);
  EXPECT_THAT(cfg->dpdk.eal_args, ElementsAre("-l", "1"));
  EXPECT_EQ(cfg->dpdk.ext_device, "net_af_xdp0");
  EXPECT_EQ(cfg->dpdk.rx_desc, 512u);
  EXPECT_THAT(errors_of(std::string(kStandalone) + "[dpdk]\nbusy_poll = 1\n"),
              ElementsAre("dpdk.busy_poll: expected boolean, got integer"));
  EXPECT_EQ(cfg->dpdk.vdev_driver, "auto");  // no vdev_driver key: af_xdp, else af_packet
  cfg = parse_proxy_config(std::string(kStandalone) + "[dpdk]\nvdev_driver = \"af_packet\"\n", "test.toml",
                           errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->dpdk.vdev_driver, "af_packet");
  const auto bad = errors_of(std::string(kStandalone) + "[dpdk]\nvdev_driver = \"xdp\"\n");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].find("dpdk.vdev_driver"), std::string::npos) << bad[0];
  EXPECT_NE(bad[0].find("auto, af_xdp, af_packet"), std::string::npos) << bad[0];
}

TEST(ProxyConfig, ReplicationSection) {
  std::vector<std::string> errors;
  auto cfg = parse_proxy_config(kStandalone, "test.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_TRUE(cfg->replication.output_digests);
  EXPECT_EQ(cfg->replication.digest_chunk_bytes, 65536u);
  EXPECT_EQ(cfg->replication.digest_idle_ms, 50u);
  EXPECT_EQ(cfg->replication.digest_max_flows, 16384u);
  cfg = parse_proxy_config(std::string(kStandalone) +
                               "[replication]\noutput_digests = false\ndigest_chunk_bytes = 1024\n"
                               "digest_idle_ms = 20\ndigest_max_flows = 100\n",
                           "test.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_FALSE(cfg->replication.output_digests);
  EXPECT_EQ(cfg->replication.digest_chunk_bytes, 1024u);
  EXPECT_EQ(cfg->replication.digest_idle_ms, 20u);
  EXPECT_EQ(cfg->replication.digest_max_flows, 100u);
  EXPECT_THAT(errors_of(std::string(kStandalone) + "[replication]\ndigest_chunk_bytes = 10\n"),
              ElementsAre("replication.digest_chunk_bytes: must be in 64..1048576, got 10"));
  EXPECT_THAT(errors_of(std::string(kStandalone) + "[replication]\ndigests = true\n"),
              ElementsAre("replication.digests: unknown key"));
}

TEST(ProxyConfig, TomlSyntaxErrorNamesFileAndLine) {
  const auto errors = errors_of("[node]\nname = \"p1\nrole = 3\n");
  ASSERT_THAT(errors, SizeIs(1));
  EXPECT_THAT(errors[0], HasSubstr("test.toml:2:"));
}

TEST(ProxyConfig, UnknownSectionsAndKeys) {
  const auto errors = errors_of(std::string(kStandalone) + "extt = \"x\"\n[portz]\na = 1\n");
  // "extt" lands inside [ports] (the last table before it).
  EXPECT_THAT(errors, Contains("ports.extt: unknown key"));
  EXPECT_THAT(errors, Contains("portz: unknown section"));
  EXPECT_THAT(errors, SizeIs(2));
}

TEST(ProxyConfig, SectionThatIsNotATable) {
  const auto errors = errors_of("garp = 5\n" + std::string(kStandalone));
  EXPECT_THAT(errors, ElementsAre("garp: expected table, got integer"));
}

TEST(ProxyConfig, WrongTypes) {
  const auto errors = errors_of(std::string(kStandalone) +
                                "burst = \"64\"\n[failover]\ntimeout_ms = \"60\"\n[garp]\nreply_form = 1\n"
                                "[service]\nips = \"10.0.0.1\"\n");
  EXPECT_THAT(errors, Contains("ports.burst: expected integer, got string"));
  EXPECT_THAT(errors, Contains("failover.timeout_ms: expected integer, got string"));
  EXPECT_THAT(errors, Contains("garp.reply_form: expected boolean, got integer"));
  EXPECT_THAT(errors, Contains("service.ips: expected array, got string"));
  EXPECT_THAT(errors, SizeIs(4));
}

TEST(ProxyConfig, OutOfRangeValues) {
  const auto errors = errors_of(std::string(kStandalone) +
                                "burst = 0\nring_mb = 2048\n[failover]\nheartbeat_ms = 20000\n"
                                "[garp]\ncount = 101\n[service]\nvlan = 4095\n");
  EXPECT_THAT(errors, Contains("ports.burst: must be in 1..1024, got 0"));
  EXPECT_THAT(errors, Contains("ports.ring_mb: must be in 1..1024, got 2048"));
  EXPECT_THAT(errors, Contains("failover.heartbeat_ms: must be in 1..10000, got 20000"));
  EXPECT_THAT(errors, Contains("garp.count: must be in 1..100, got 101"));
  EXPECT_THAT(errors, Contains("service.vlan: must be in 0..4094, got 4095"));
  EXPECT_THAT(errors, SizeIs(5));
}

TEST(ProxyConfig, NegativeIntegerIsOutOfRangeNotWrapped) {
  const auto errors = errors_of(std::string(kStandalone) + "burst = -1\n");
  EXPECT_THAT(errors, ElementsAre("ports.burst: must be in 1..1024, got -1"));
}

TEST(ProxyConfig, TimeoutMustExceedTwoHeartbeats) {
  auto errors = errors_of(std::string(kStandalone) + "[failover]\nheartbeat_ms = 10\ntimeout_ms = 20\n");
  EXPECT_THAT(errors, ElementsAre("failover.timeout_ms: must be > 2 * failover.heartbeat_ms (20), got 20"));

  std::vector<std::string> ok_errors;
  EXPECT_TRUE(parse_proxy_config(
      std::string(kStandalone) + "[failover]\nheartbeat_ms = 10\ntimeout_ms = 21\n", "t", ok_errors));
}

TEST(ProxyConfig, MalformedAddresses) {
  const std::string text = R"(
[node]
name = "p1"
role = "backup"
cluster = "demo"
[ports]
ext = "eth0"
int = "eth1"
[control]
listen = "localhost"
[service]
ips = ["10.0.0", 5, "10.0.0.1", "10.0.0.1"]
mac = "02:00:00:00:00"
[log]
listen = "::1:7400"
[arbiter]
endpoints = ["127.0.0.1:0"]
)";
  const auto errors = errors_of(text);
  EXPECT_THAT(errors, Contains(AllOf(HasSubstr("control.listen: malformed endpoint \"localhost\""),
                                     HasSubstr("[ADDR]:PORT"))));
  EXPECT_THAT(errors, Contains("service.ips[0]: malformed IP address \"10.0.0\""));
  EXPECT_THAT(errors, Contains("service.ips[1]: expected string, got integer"));
  EXPECT_THAT(errors, Contains("service.ips[3]: duplicate address \"10.0.0.1\""));
  EXPECT_THAT(errors, Contains(HasSubstr("service.mac: malformed MAC address \"02:00:00:00:00\"")));
  EXPECT_THAT(errors, Contains(HasSubstr("log.listen: malformed endpoint \"::1:7400\"")));
  EXPECT_THAT(errors, Contains("arbiter.endpoints[0]: port must be 1..65535, got \"127.0.0.1:0\""));
  // The bad values also leave the role's requirements unmet, and that is said too.
  EXPECT_THAT(errors, Contains("service.mac: required for role backup"));
  EXPECT_THAT(errors, Contains("log.listen: required for role backup"));
  EXPECT_THAT(errors, Contains("arbiter.endpoints: required for role backup"));
}

TEST(ProxyConfig, MulticastServiceMacRefused) {
  std::string text = kPrimary;
  text.replace(text.find("02:00:00:00:00:10"), 17, "01:00:5e:00:00:01");
  const auto errors = errors_of(text);
  EXPECT_THAT(errors, Contains(HasSubstr("service.mac: must be a unicast, non-zero MAC")));
}

TEST(ProxyConfig, EnumValues) {
  const auto errors = errors_of(R"(
[node]
name = "p1"
role = "master"
cluster = "demo"
[ports]
backend = "netmap"
ext = "eth0"
int = "eth1"
offloads = "off"
[arbiter]
backend = "zookeeper"
[logging]
level = "verbose"
format = "xml"
)");
  EXPECT_THAT(errors, Contains("node.role: must be one of standalone, primary, backup; got \"master\""));
  EXPECT_THAT(errors,
              Contains("ports.backend: must be one of pcap, pcap-file, memory, dpdk; got \"netmap\""));
  EXPECT_THAT(errors, Contains("ports.offloads: must be one of disable, refuse, ignore; got \"off\""));
  EXPECT_THAT(errors, Contains("arbiter.backend: must be one of embedded, etcd; got \"zookeeper\""));
  EXPECT_THAT(errors,
              Contains("logging.level: must be one of trace, debug, info, warn, error; got \"verbose\""));
  EXPECT_THAT(errors, Contains("logging.format: must be one of text, json; got \"xml\""));
  EXPECT_THAT(errors, SizeIs(6));
}

TEST(ProxyConfig, RequiredKeysOfEveryRole) {
  EXPECT_THAT(errors_of(""), ElementsAre("node: required section", "ports: required section"));
  EXPECT_THAT(errors_of("[node]\n[ports]\n"),
              ElementsAre("node.name: required", "node.cluster: required", "node.role: required",
                          "ports.ext: required", "ports.int: required"));

  auto errors = errors_of(R"(
[node]
name = "n"
cluster = "c"
role = "primary"
[ports]
ext = "a"
int = "b"
)");
  EXPECT_THAT(
      errors,
      ElementsAre("service.ips: required for role primary", "service.mac: required for role primary",
                  "log.peer: required for role primary", "arbiter.endpoints: required for role primary"));
  errors = errors_of(R"(
[node]
name = "n"
cluster = "c"
role = "backup"
[ports]
ext = "a"
int = "b"
[log]
peer = "10.0.0.1:7400"
)");
  EXPECT_THAT(
      errors,
      ElementsAre("service.ips: required for role backup", "service.mac: required for role backup",
                  "log.listen: required for role backup", "arbiter.endpoints: required for role backup"));
}

TEST(ProxyConfig, NodeNamePattern) {
  std::string text = kStandalone;
  text.replace(text.find("\"p1\""), 4, "\"p 1\"");
  EXPECT_THAT(errors_of(text), ElementsAre("node.name: must match [A-Za-z0-9_.-]{1,64}, got \"p 1\""));
}

TEST(ProxyConfig, ExtAndIntMustDiffer) {
  std::string text = kStandalone;
  text.replace(text.find("\"eth1\""), 6, "\"eth0\"");
  EXPECT_THAT(errors_of(text), ElementsAre("ports.int: must differ from ports.ext (both \"eth0\")"));
}

TEST(ProxyConfig, PcapFileBackendNeedsFiles) {
  const std::string base =
      "[node]\nname = \"n\"\ncluster = \"c\"\nrole = \"standalone\"\n[ports]\next = \"a\"\n"
      "int = \"b\"\n";
  EXPECT_THAT(
      errors_of(base + "backend = \"pcap-file\"\n"),
      ElementsAre("ports.ext_rx_file: backend pcap-file needs ports.ext_rx_file or ports.int_rx_file"));
  EXPECT_THAT(
      errors_of(base + "ext_rx_file = \"in.pcap\"\n"),
      ElementsAre("ports.ext_rx_file: only valid with ports.backend = \"pcap-file\" (backend is \"pcap\")"));
  std::vector<std::string> errors;
  const auto cfg = parse_proxy_config(
      base + "backend = \"pcap-file\"\next_rx_file = \"in.pcap\"\nint_tx_file = \"out.pcap\"\n", "t", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->ports.ext_rx_file, "in.pcap");
  EXPECT_EQ(cfg->ports.int_tx_file, "out.pcap");
}

TEST(ProxyConfig, ReportsAllProblemsAtOnce) {
  const auto errors = errors_of(R"(
[node]
name = "p1"
role = "standalone"
[ports]
ext = "eth0"
int = "eth1"
burst = 5000
bogus = true
[failover]
heartbeat_ms = "5"
)");
  EXPECT_THAT(errors,
              ElementsAre("node.cluster: required", "ports.burst: must be in 1..1024, got 5000",
                          "ports.bogus: unknown key", "failover.heartbeat_ms: expected integer, got string"));
}

TEST(ProxyConfig, LoadReportsMissingFile) {
  std::vector<std::string> errors;
  EXPECT_FALSE(load_proxy_config("/nonexistent/ftproxy.toml", errors));
  EXPECT_THAT(errors, ElementsAre("/nonexistent/ftproxy.toml: cannot open config file"));
}

TEST(ShippedConfigs, StandaloneLoads) {
  std::vector<std::string> errors;
  const auto cfg = load_proxy_config(std::string(FTPROXY_CONFIGS_DIR) + "/standalone.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->node.role, Role::standalone);
  EXPECT_NE(cfg->ports.ext, cfg->ports.int_);
}

TEST(ShippedConfigs, ArbiterLoads) {
  std::vector<std::string> errors;
  const auto cfg = load_arbiter_config(std::string(FTPROXY_CONFIGS_DIR) + "/arbiter.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_FALSE(cfg->data_dir.empty());
  EXPECT_EQ(cfg->listen.port, 7500);
}

TEST(ShippedConfigs, EveryExampleLoads) {
  // Every configs/*.toml must stay valid: arbiter*.toml as arbiter configs, the rest as proxy configs.
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(FTPROXY_CONFIGS_DIR)) {
    if (entry.path().extension() != ".toml") continue;
    const std::string path = entry.path().string();
    std::vector<std::string> errors;
    const bool ok = entry.path().filename().string().starts_with("arbiter")
                        ? load_arbiter_config(path, errors).has_value()
                        : load_proxy_config(path, errors).has_value();
    EXPECT_TRUE(ok) << path << ": " << ::testing::PrintToString(errors);
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

TEST(ArbiterConfig, ParsesAndValidates) {
  std::vector<std::string> errors;
  auto cfg = parse_arbiter_config(
      "[arbiter]\nlisten = \"[::1]:7600\"\ndata_dir = \"/tmp/a\"\ncontrol_listen = \"127.0.0.1:9200\"\n"
      "[logging]\nformat = \"json\"\n",
      "a.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->listen.host, "::1");
  EXPECT_EQ(cfg->listen.port, 7600);
  EXPECT_EQ(cfg->control_listen.port, 9200);
  EXPECT_EQ(cfg->logging.format, "json");

  errors.clear();
  EXPECT_FALSE(parse_arbiter_config("[arbiter]\nlisten = \"x\"\nport = 3\n[node]\n", "a.toml", errors));
  EXPECT_THAT(errors, Contains("node: unknown section"));
  EXPECT_THAT(errors, Contains(HasSubstr("arbiter.listen: malformed endpoint \"x\"")));
  EXPECT_THAT(errors, Contains("arbiter.data_dir: required"));
  EXPECT_THAT(errors, Contains("arbiter.port: unknown key"));

  errors.clear();
  EXPECT_FALSE(parse_arbiter_config("", "a.toml", errors));
  EXPECT_THAT(errors, ElementsAre("arbiter: required section"));
}

TEST(ArbiterConfig, KeysPerCluster) {
  std::vector<std::string> errors;
  auto cfg = parse_arbiter_config(
      "[arbiter]\ndata_dir = \"/tmp/a\"\nkey_file = \"/k/default\"\nallow_unauthenticated = true\n"
      "[cluster_keys]\nprod-redis = \"/k/prod\"\n\"a.b\" = \"/k/ab\"\n",
      "a.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->key_file, "/k/default");
  EXPECT_TRUE(cfg->allow_unauthenticated);
  ASSERT_EQ(cfg->cluster_keys.size(), 2u);
  EXPECT_THAT(cfg->cluster_keys, Contains(std::pair<std::string, std::string>{"prod-redis", "/k/prod"}));
  EXPECT_THAT(cfg->cluster_keys, Contains(std::pair<std::string, std::string>{"a.b", "/k/ab"}));

  errors.clear();
  EXPECT_FALSE(parse_arbiter_config(
      "[arbiter]\ndata_dir = \"/tmp/a\"\n[cluster_keys]\n\"bad/name\" = \"/k\"\nc1 = 3\nc2 = \"\"\n",
      "a.toml", errors));
  EXPECT_THAT(errors, Contains(HasSubstr("cluster_keys.bad/name: not a cluster name")));
  EXPECT_THAT(errors, Contains(HasSubstr("cluster_keys.c1: expected the path of a key file")));
  EXPECT_THAT(errors, Contains(HasSubstr("cluster_keys.c2: expected the path of a key file")));
}

TEST(ProxyConfig, SecurityKeys) {
  std::vector<std::string> errors;
  auto cfg = parse_proxy_config(std::string(kPrimary) + "key_file = \"/k/arb\"\n", "t.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->arbiter.key_file, "/k/arb");
  EXPECT_TRUE(cfg->node.user.empty());

  const std::string etcd = std::string(kPrimary) +
                           "backend = \"etcd\"\ntls = true\ntls_ca_file = \"/c/ca.pem\"\n"
                           "tls_cert_file = \"/c/c.pem\"\ntls_key_file = \"/c/c.key\"\n";
  cfg = parse_proxy_config(etcd, "t.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_TRUE(cfg->arbiter.tls);
  EXPECT_EQ(cfg->arbiter.tls_key_file, "/c/c.key");

  EXPECT_THAT(errors_of(std::string(kPrimary) + "tls_ca_file = \"/c/ca.pem\"\n"),
              Contains("arbiter.tls: must be true when a tls_* key is set"));
  EXPECT_THAT(errors_of(std::string(kPrimary) + "tls = true\n"),
              Contains("arbiter.tls: only the etcd backend speaks TLS"));
  EXPECT_THAT(errors_of(std::string(kPrimary) + "backend = \"etcd\"\ntls = true\ntls_cert_file = \"/c\"\n"),
              Contains(HasSubstr("arbiter.tls_key_file: tls_cert_file and tls_key_file go together")));
  EXPECT_THAT(errors_of(std::string(kPrimary) + "backend = \"etcd\"\nkey_file = \"/k\"\n"),
              Contains(HasSubstr("arbiter.key_file: only the embedded arbiter")));

  std::string with_user = kPrimary;
  with_user.replace(with_user.find("cluster = \"demo\""), 16, "cluster = \"demo\"\nuser = \"ftproxy\"");
  cfg = parse_proxy_config(with_user, "t.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_EQ(cfg->node.user, "ftproxy");
  with_user.replace(with_user.find("\"ftproxy\""), 9, "\"a b\"");
  EXPECT_THAT(errors_of(with_user), Contains(HasSubstr("node.user: must be a user name")));
}

// [log] tls: off by default; on, it needs the certificate, its key and the CA.
TEST(ProxyConfig, LogTlsKeys) {
  const auto with_log = [](const std::string& keys) {
    std::string text = kPrimary;
    const std::string anchor = "peer = \"192.168.50.2:7400\"\n";
    text.insert(text.find(anchor) + anchor.size(), keys);
    return text;
  };
  std::vector<std::string> errors;
  auto cfg = parse_proxy_config(kPrimary, "t.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_FALSE(cfg->log.tls);

  cfg =
      parse_proxy_config(with_log("tls = true\ntls_cert_file = \"/t/p1.pem\"\ntls_key_file = \"/t/p1.key\"\n"
                                  "tls_ca_file = \"/t/ca.pem\"\nkey_file = \"/k/log\"\n"),
                         "t.toml", errors);
  ASSERT_TRUE(cfg) << ::testing::PrintToString(errors);
  EXPECT_TRUE(cfg->log.tls);
  EXPECT_EQ(cfg->log.tls_cert_file, "/t/p1.pem");
  EXPECT_EQ(cfg->log.tls_key_file, "/t/p1.key");
  EXPECT_EQ(cfg->log.tls_ca_file, "/t/ca.pem");
  EXPECT_EQ(cfg->log.key_file, "/k/log");  // TLS and the pre-shared key together

  const auto missing = errors_of(with_log("tls = true\ntls_cert_file = \"/t/p1.pem\"\n"));
  EXPECT_THAT(missing, Contains(HasSubstr("log.tls_key_file: required when log.tls = true")));
  EXPECT_THAT(missing, Contains(HasSubstr("log.tls_ca_file: required when log.tls = true")));
  EXPECT_THAT(missing, ::testing::Not(Contains(HasSubstr("log.tls_cert_file"))));
  EXPECT_THAT(errors_of(with_log("tls_ca_file = \"/t/ca.pem\"\n")),
              Contains("log.tls: must be true when log.tls_ca_file is set"));
  EXPECT_THAT(errors_of(with_log("tls = \"yes\"\n")), Contains(HasSubstr("log.tls: expected boolean")));
}

class Environment : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ftproxy-control-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::remove((dir_ + "/in.pcap").c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(Environment, MissingInterfacesAndFiles) {
  std::vector<std::string> errors;
  auto cfg = parse_proxy_config(std::string(kStandalone), "t", errors);
  ASSERT_TRUE(cfg);
  cfg->ports.ext = "lo";
  cfg->ports.int_ = "ftp-nosuch0";
  cfg->log.key_file = dir_ + "/missing.key";
  check_proxy_environment(*cfg, errors);
  EXPECT_THAT(errors, ElementsAre("ports.int: network interface \"ftp-nosuch0\" does not exist",
                                  "log.key_file: file \"" + dir_ + "/missing.key\" does not exist"));
}

TEST_F(Environment, DpdkDeviceMakesThePortNameALabel) {
  std::vector<std::string> errors;
  auto cfg = parse_proxy_config(std::string(kStandalone), "t", errors);
  ASSERT_TRUE(cfg);
  cfg->ports.backend = "dpdk";
  cfg->ports.ext = "ftp-nosuch1";
  cfg->ports.int_ = "ftp-nosuch2";
  cfg->dpdk.ext_device = "0000:01:00.0";  // a NIC bound to vfio-pci: no kernel interface
  check_proxy_environment(*cfg, errors);
  EXPECT_THAT(errors, ElementsAre("ports.int: network interface \"ftp-nosuch2\" does not exist"));
}

TEST_F(Environment, PcapFileInputsMustBeReadable) {
  std::vector<std::string> errors;
  ProxyConfig cfg;
  cfg.ports.backend = "pcap-file";
  cfg.ports.ext = "a";
  cfg.ports.int_ = "b";
  cfg.ports.ext_rx_file = dir_ + "/in.pcap";
  cfg.ports.int_rx_file = dir_ + "/nope.pcap";
  cfg.ports.int_tx_file = "/nonexistent-dir/out.pcap";
  std::ofstream(cfg.ports.ext_rx_file) << "x";
  check_proxy_environment(cfg, errors);
  EXPECT_THAT(errors, ElementsAre("ports.int_rx_file: file \"" + dir_ + "/nope.pcap\" does not exist",
                                  "ports.int_tx_file: directory \"/nonexistent-dir\" is not writable"));
}

}  // namespace
}  // namespace ftproxy::control
