#include "ftproxy/control/config.hpp"

#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string_view>
#include <tuple>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace ftproxy::control {

const char* to_string(Role r) noexcept {
  switch (r) {
    case Role::standalone:
      return "standalone";
    case Role::primary:
      return "primary";
    case Role::backup:
      return "backup";
  }
  return "?";
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_host_name(std::string_view h) {
  if (h.empty() || h.size() > 253 || h.front() == '.' || h.front() == '-' || h.back() == '-') return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-';
  });
}

std::optional<std::uint16_t> parse_port(std::string_view p) {
  if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), is_digit)) return std::nullopt;
  unsigned v = 0;
  for (char c : p) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint ep;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    const auto host = text.substr(1, close - 1);
    const auto ip = packet::parse_ip(host);
    if (!ip || ip->family != packet::IpAddr::Family::v6) return std::nullopt;
    ep.host = std::string(host);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto host = text.substr(0, colon);
    // An unbracketed IPv6 address is ambiguous with the port separator.
    if (host.find(':') != std::string_view::npos) return std::nullopt;
    const bool numeric_looking = !host.empty() && std::all_of(host.begin(), host.end(),
                                                              [](char c) { return is_digit(c) || c == '.'; });
    if (numeric_looking) {
      const auto ip = packet::parse_ip(host);
      if (!ip || ip->family != packet::IpAddr::Family::v4) return std::nullopt;
    } else if (!is_host_name(host)) {
      return std::nullopt;
    }
    ep.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  const auto port = parse_port(port_text);
  if (!port) return std::nullopt;
  ep.port = *port;
  return ep;
}

namespace {

const char* type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
  }
  return "?";
}

std::string join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (auto s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

bool one_of(std::string_view v, std::initializer_list<std::string_view> items) {
  return std::find(items.begin(), items.end(), v) != items.end();
}

bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' ||
           c == '-';
  });
}

// Reads the keys of one [section], remembers which keys were consumed so that the
// rest can be reported as unknown, and records every problem with the key's full name.
class SectionReader {
 public:
  SectionReader(const toml::table* table, std::string name, std::vector<std::string>& errors)
      : table_(table), name_(std::move(name)), errors_(errors) {}

  std::string key_name(std::string_view key) const { return fmt::format("{}.{}", name_, key); }
  void error(std::string_view key, std::string_view msg) {
    errors_.push_back(fmt::format("{}: {}", key_name(key), msg));
  }
  bool present(std::string_view key) const { return table_ != nullptr && table_->contains(key); }

  // Returns the node when present and of the expected type; reports a type mismatch.
  const toml::node* node(std::string_view key, toml::node_type expected) {
    known_.emplace_back(key);
    if (table_ == nullptr) return nullptr;
    const toml::node* n = table_->get(key);
    if (n == nullptr) return nullptr;
    if (n->type() != expected) {
      error(key, fmt::format("expected {}, got {}", type_name(expected), type_name(n->type())));
      return nullptr;
    }
    return n;
  }

  bool str(std::string_view key, std::string& out) {
    const auto* n = node(key, toml::node_type::string);
    if (n == nullptr) return false;
    out = n->as_string()->get();
    return true;
  }

  bool boolean(std::string_view key, bool& out) {
    const auto* n = node(key, toml::node_type::boolean);
    if (n == nullptr) return false;
    out = n->as_boolean()->get();
    return true;
  }

  template <typename T>
  bool integer(std::string_view key, T& out, std::int64_t min, std::int64_t max) {
    const auto* n = node(key, toml::node_type::integer);
    if (n == nullptr) return false;
    const std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      error(key, fmt::format("must be in {}..{}, got {}", min, max, v));
      return false;
    }
    out = static_cast<T>(v);
    return true;
  }

  bool enumeration(std::string_view key, std::string& out, std::initializer_list<std::string_view> allowed) {
    std::string v;
    if (!str(key, v)) return false;
    if (!one_of(v, allowed)) {
      error(key, fmt::format("must be one of {}; got \"{}\"", join(allowed), v));
      return false;
    }
    out = std::move(v);
    return true;
  }

  bool endpoint(std::string_view key, Endpoint& out, bool allow_port_zero) {
    std::string v;
    if (!str(key, v)) return false;
    return check_endpoint(key, v, out, allow_port_zero);
  }

  bool check_endpoint(std::string_view key, std::string_view text, Endpoint& out, bool allow_port_zero) {
    const auto ep = parse_endpoint(text);
    if (!ep) {
      error(key, fmt::format("malformed endpoint \"{}\" (expected ADDR:PORT, IPv6 as [ADDR]:PORT)", text));
      return false;
    }
    if (ep->port == 0 && !allow_port_zero) {
      error(key, fmt::format("port must be 1..65535, got \"{}\"", text));
      return false;
    }
    out = *ep;
    return true;
  }

  // Reports every key of the table that no reader call asked for.
  void finish() {
    if (table_ == nullptr) return;
    for (auto&& [k, v] : *table_) {
      (void)v;
      if (std::find(known_.begin(), known_.end(), k.str()) == known_.end()) error(k.str(), "unknown key");
    }
  }

 private:
  const toml::table* table_;
  std::string name_;
  std::vector<std::string>& errors_;
  std::vector<std::string> known_;
};

// Splits the document into its known sections, reporting unknown ones and non-tables.
class DocumentReader {
 public:
  DocumentReader(const toml::table& root, std::initializer_list<std::string_view> sections,
                 std::vector<std::string>& errors)
      : root_(root), errors_(errors) {
    for (auto&& [k, v] : root) {
      if (!one_of(k.str(), sections)) {
        errors.push_back(fmt::format("{}: unknown section", k.str()));
      } else if (!v.is_table()) {
        errors.push_back(fmt::format("{}: expected table, got {}", k.str(), type_name(v.type())));
      }
    }
  }
  SectionReader section(std::string name) {
    const toml::table* t = root_[name].as_table();
    return SectionReader(t, std::move(name), errors_);
  }

 private:
  const toml::table& root_;
  std::vector<std::string>& errors_;
};

// Offset of the first non-ASCII byte outside a comment (npos if none; a leading UTF-8
// byte-order mark is allowed). toml++ 3.3.0 (Debian's) reaches __builtin_unreachable()
// when it tests some non-ASCII code points for whitespace (upstream issues
// marzer/tomlplusplus#190 and #295; found by tests/fuzz/fuzz_config), i.e. undefined
// behaviour on a hostile or mistyped file, so such text never reaches it. Comments are
// safe (toml++ does not test their characters for whitespace); keys and values of ours
// are ASCII. The scan knows strings only to tell a '#' in a string from a comment.
std::size_t first_non_ascii_outside_comments(std::string_view t) {
  enum class In { code, comment, basic, literal, ml_basic, ml_literal } in = In::code;
  const auto high = [&](std::size_t i) { return i < t.size() && static_cast<unsigned char>(t[i]) >= 0x80; };
  std::size_t i = t.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    switch (in) {
      case In::comment:
        if (c == '\n') in = In::code;
        continue;
      case In::code:
        if (c == '#') {
          in = In::comment;
        } else if (c == '"' || c == '\'') {
          const bool multi = t.substr(i, 3) == std::string_view(c == '"' ? "\"\"\"" : "'''");
          in = c == '"' ? (multi ? In::ml_basic : In::basic) : (multi ? In::ml_literal : In::literal);
          if (multi) i += 2;
        }
        break;
      case In::basic:
      case In::ml_basic:
        if (c == '\\') {
          if (high(i + 1)) return i + 1;
          ++i;  // an escaped character cannot end the string
          continue;
        }
        if (in == In::basic ? (c == '"' || c == '\n') : t.substr(i, 3) == "\"\"\"") {
          if (in == In::ml_basic) i += 2;
          in = In::code;
          continue;
        }
        break;
      case In::literal:
      case In::ml_literal:
        if (in == In::literal ? (c == '\'' || c == '\n') : t.substr(i, 3) == "'''") {
          if (in == In::ml_literal) i += 2;
          in = In::code;
          continue;
        }
        break;
    }
    if (high(i)) return i;
  }
  return std::string_view::npos;
}

std::optional<toml::table> parse_toml(std::string_view text, const std::string& source_name,
                                      std::vector<std::string>& errors) {
  if (const std::size_t at = first_non_ascii_outside_comments(text); at != std::string_view::npos) {
    const std::size_t line_start =
        text.rfind('\n', at) == std::string_view::npos ? 0 : text.rfind('\n', at) + 1;
    errors.push_back(fmt::format(
        "{}:{}:{}: non-ASCII character outside a comment (keys and values are ASCII)", source_name,
        1 + std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'), 1 + at - line_start));
    return std::nullopt;
  }
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    errors.push_back(
        fmt::format("{}:{}:{}: {}", source_name, src.begin.line, src.begin.column, e.description()));
    return std::nullopt;
  }
}

bool read_file(const std::string& path, std::string& out, std::vector<std::string>& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back(fmt::format("{}: cannot open config file", path));
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    errors.push_back(fmt::format("{}: read error", path));
    return false;
  }
  out = std::move(ss).str();
  return true;
}

constexpr std::int64_t kU32Max = 0xFFFFFFFF;

void read_dpdk(SectionReader r, DpdkSection& out) {
  if (const auto* n = r.node("eal_args", toml::node_type::array)) {
    const auto& arr = *n->as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const auto* s = arr[i].as_string();
      if (s == nullptr) {
        r.error(fmt::format("eal_args[{}]", i),
                fmt::format("expected string, got {}", type_name(arr[i].type())));
        continue;
      }
      out.eal_args.push_back(s->get());
    }
  }
  r.str("ext_device", out.ext_device);
  r.str("int_device", out.int_device);
  r.enumeration("vdev_driver", out.vdev_driver, {"auto", "af_xdp", "af_packet"});
  r.integer("mbufs", out.mbufs, 255, 1048575);
  r.integer("rx_desc", out.rx_desc, 64, 16384);
  r.integer("tx_desc", out.tx_desc, 64, 16384);
  r.boolean("busy_poll", out.busy_poll);
  r.finish();
}

void read_logging(SectionReader r, LoggingSection& out) {
  r.enumeration("level", out.level, {"trace", "debug", "info", "warn", "error"});
  r.enumeration("format", out.format, {"text", "json"});
  r.finish();
}

void read_node(SectionReader r, NodeSection& out) {
  const std::pair<const char*, std::string*> ids[] = {{"name", &out.name}, {"cluster", &out.cluster}};
  for (const auto& [key, field] : ids) {
    if (!r.present(key)) {
      r.error(key, "required");
    } else if (r.str(key, *field) && !is_identifier(*field)) {
      r.error(key, fmt::format("must match [A-Za-z0-9_.-]{{1,64}}, got \"{}\"", *field));
    }
  }
  std::string role;
  if (!r.present("role")) {
    r.error("role", "required");
  } else if (r.enumeration("role", role, {"standalone", "primary", "backup"})) {
    out.role = role == "primary" ? Role::primary : role == "backup" ? Role::backup : Role::standalone;
  }
  r.integer("epoch", out.epoch, 1, std::int64_t{1} << 62);
  r.integer("realtime_priority", out.realtime_priority, 0, 99);
  if (r.str("user", out.user) && !out.user.empty() && !is_identifier(out.user)) {
    r.error("user", fmt::format("must be a user name [A-Za-z0-9_.-]{{1,64}}, got \"{}\"", out.user));
  }
  r.finish();
}

void read_ports(SectionReader r, PortsSection& out) {
  r.enumeration("backend", out.backend, {"pcap", "pcap-file", "memory", "dpdk"});
  const bool have_ext = r.str("ext", out.ext);
  const bool have_int = r.str("int", out.int_);
  if (!r.present("ext")) r.error("ext", "required");
  if (!r.present("int")) r.error("int", "required");
  if (have_ext && out.ext.empty()) r.error("ext", "must not be empty");
  if (have_int && out.int_.empty()) r.error("int", "must not be empty");
  if (have_ext && have_int && !out.ext.empty() && out.ext == out.int_) {
    r.error("int", fmt::format("must differ from ports.ext (both \"{}\")", out.ext));
  }
  const bool pcap_file = out.backend == "pcap-file";
  struct FileKey {
    const char* key;
    std::string* field;
  };
  const FileKey files[] = {{"ext_rx_file", &out.ext_rx_file},
                           {"ext_tx_file", &out.ext_tx_file},
                           {"int_rx_file", &out.int_rx_file},
                           {"int_tx_file", &out.int_tx_file}};
  for (const auto& f : files) {
    if (r.str(f.key, *f.field) && !pcap_file) {
      r.error(f.key,
              fmt::format("only valid with ports.backend = \"pcap-file\" (backend is \"{}\")", out.backend));
    }
  }
  if (pcap_file && out.ext_rx_file.empty() && out.int_rx_file.empty()) {
    r.error("ext_rx_file", "backend pcap-file needs ports.ext_rx_file or ports.int_rx_file");
  }
  r.boolean("repair_checksums", out.repair_checksums);
  std::string offloads;
  if (r.enumeration("offloads", offloads, {"disable", "refuse", "ignore"})) {
    out.offloads = offloads == "refuse"   ? io::OffloadPolicy::refuse
                   : offloads == "ignore" ? io::OffloadPolicy::ignore
                                          : io::OffloadPolicy::disable;
  }
  r.integer("ring_mb", out.ring_mb, 1, 1024);
  r.integer("burst", out.burst, 1, 1024);
  r.finish();
}

void read_control(SectionReader r, ControlSection& out) {
  r.endpoint("listen", out.listen, true);
  r.str("token_file", out.token_file);
  r.finish();
}

void read_service(SectionReader r, ServiceSection& out) {
  if (const auto* n = r.node("ips", toml::node_type::array)) {
    const auto& arr = *n->as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string key = fmt::format("ips[{}]", i);
      const auto* s = arr[i].as_string();
      if (s == nullptr) {
        r.error(key, fmt::format("expected string, got {}", type_name(arr[i].type())));
        continue;
      }
      const auto ip = packet::parse_ip(s->get());
      if (!ip) {
        r.error(key, fmt::format("malformed IP address \"{}\"", s->get()));
      } else if (std::find(out.ips.begin(), out.ips.end(), *ip) != out.ips.end()) {
        r.error(key, fmt::format("duplicate address \"{}\"", s->get()));
      } else {
        out.ips.push_back(*ip);
      }
    }
  }
  std::string mac_text;
  if (r.str("mac", mac_text)) {
    const auto mac = packet::parse_mac(mac_text);
    if (!mac) {
      r.error("mac", fmt::format("malformed MAC address \"{}\" (expected xx:xx:xx:xx:xx:xx)", mac_text));
    } else if (mac->is_multicast() || mac->is_zero()) {
      r.error("mac", fmt::format("must be a unicast, non-zero MAC, got \"{}\"", mac_text));
    } else {
      out.mac = *mac;
    }
  }
  r.integer("vlan", out.vlan, 0, 4094);
  r.finish();
}

void read_log(SectionReader r, LogSection& out) {
  Endpoint ep;
  if (r.endpoint("listen", ep, true)) out.listen = ep;
  if (r.endpoint("peer", ep, false)) out.peer = ep;
  r.integer("max_unacked_entries", out.max_unacked_entries, 1, 1 << 24);
  r.integer("max_unacked_bytes", out.max_unacked_bytes, 64 * 1024, std::int64_t{1} << 36);
  r.integer("batch_bytes", out.batch_bytes, 512, 16 << 20);
  r.str("key_file", out.key_file);
  r.boolean("tls", out.tls);
  r.str("tls_cert_file", out.tls_cert_file);
  r.str("tls_key_file", out.tls_key_file);
  r.str("tls_ca_file", out.tls_ca_file);
  const std::pair<std::string_view, const std::string*> tls_files[] = {{"tls_cert_file", &out.tls_cert_file},
                                                                       {"tls_key_file", &out.tls_key_file},
                                                                       {"tls_ca_file", &out.tls_ca_file}};
  for (const auto& [key, value] : tls_files) {
    if (out.tls && value->empty()) {
      r.error(key,
              "required when log.tls = true (both proxies present a certificate and verify the other's)");
    } else if (!out.tls && !value->empty()) {
      r.error("tls", fmt::format("must be true when log.{} is set", key));
    }
  }
  r.finish();
}

void read_failover(SectionReader r, FailoverSection& out) {
  // A cross-key rule holds between the values in force, given or default (fuzz_config
  // found "heartbeat_ms = 50" alone accepted against the default timeout_ms = 60).
  const auto valid = [&](bool read, std::string_view key) { return read || !r.present(key); };
  const bool hb_ok = valid(r.integer("heartbeat_ms", out.heartbeat_ms, 1, 10000), "heartbeat_ms");
  const bool to_ok = valid(r.integer("timeout_ms", out.timeout_ms, 1, 600000), "timeout_ms");
  if (hb_ok && to_ok && out.timeout_ms <= 2 * out.heartbeat_ms) {
    r.error("timeout_ms", fmt::format("must be > 2 * failover.heartbeat_ms ({}), got {}",
                                      2 * out.heartbeat_ms, out.timeout_ms));
  }
  r.str("probe_command", out.probe_command);
  const bool iv_ok =
      valid(r.integer("probe_interval_ms", out.probe_interval_ms, 10, 3600000), "probe_interval_ms");
  const bool pt_ok =
      valid(r.integer("probe_timeout_ms", out.probe_timeout_ms, 1, 3600000), "probe_timeout_ms");
  if (iv_ok && pt_ok && out.probe_timeout_ms > out.probe_interval_ms) {
    r.error("probe_timeout_ms", fmt::format("must be <= failover.probe_interval_ms ({}), got {}",
                                            out.probe_interval_ms, out.probe_timeout_ms));
  }
  r.integer("join_timeout_ms", out.join_timeout_ms, 0, 3600000);
  r.finish();
}

void read_arbiter_client(SectionReader r, ArbiterClientSection& out) {
  r.enumeration("backend", out.backend, {"embedded", "etcd"});
  if (const auto* n = r.node("endpoints", toml::node_type::array)) {
    const auto& arr = *n->as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string key = fmt::format("endpoints[{}]", i);
      const auto* s = arr[i].as_string();
      if (s == nullptr) {
        r.error(key, fmt::format("expected string, got {}", type_name(arr[i].type())));
        continue;
      }
      Endpoint ep;
      if (r.check_endpoint(key, s->get(), ep, false)) out.endpoints.push_back(std::move(ep));
    }
  }
  r.integer("timeout_ms", out.timeout_ms, 1, 60000);
  r.integer("retry_ms", out.retry_ms, 1, 60000);
  r.str("key_file", out.key_file);
  r.str("username", out.username);
  r.str("password_file", out.password_file);
  if (!out.username.empty() && out.password_file.empty())
    r.error("password_file", "required when arbiter.username is set");
  if (!out.username.empty() && out.backend != "etcd") r.error("username", "only the etcd backend has users");
  r.boolean("tls", out.tls);
  r.str("tls_ca_file", out.tls_ca_file);
  r.str("tls_cert_file", out.tls_cert_file);
  r.str("tls_key_file", out.tls_key_file);
  r.str("tls_server_name", out.tls_server_name);
  const bool tls_files = !out.tls_ca_file.empty() || !out.tls_cert_file.empty() ||
                         !out.tls_key_file.empty() || !out.tls_server_name.empty();
  if (tls_files && !out.tls) r.error("tls", "must be true when a tls_* key is set");
  if (out.tls && out.backend != "etcd") r.error("tls", "only the etcd backend speaks TLS");
  if (out.tls_cert_file.empty() != out.tls_key_file.empty())
    r.error(out.tls_cert_file.empty() ? "tls_cert_file" : "tls_key_file",
            "tls_cert_file and tls_key_file go together (the client certificate and its key)");
  if (!out.key_file.empty() && out.backend != "embedded")
    r.error("key_file", "only the embedded arbiter uses a pre-shared key (etcd: username or tls_cert_file)");
  r.finish();
}

void read_garp(SectionReader r, GarpSection& out) {
  r.integer("count", out.count, 1, 100);
  r.integer("interval_ms", out.interval_ms, 0, 10000);
  r.integer("refresh_s", out.refresh_s, 0, 86400);
  r.boolean("reply_form", out.reply_form);
  r.finish();
}

void read_tcp(SectionReader r, TcpSection& out) {
  r.integer("max_flows", out.max_flows, 1, 1 << 24);
  r.integer("idle_timeout_s", out.idle_timeout_s, 1, 7 * 86400);
  r.integer("closed_linger_s", out.closed_linger_s, 0, 3600);
  r.integer("wait_queue_frames", out.wait_queue_frames, 1, 4096);
  r.integer("hold_ms", out.hold_ms, 1, 60000);
  r.finish();
}

void read_replication(SectionReader r, ReplicationSection& out) {
  r.boolean("output_digests", out.output_digests);
  r.integer("digest_chunk_bytes", out.digest_chunk_bytes, 64, 1 << 20);
  r.integer("digest_idle_ms", out.digest_idle_ms, 1, 60000);
  r.integer("digest_max_flows", out.digest_max_flows, 1, 1 << 22);
  r.finish();
}

void check_role_requirements(const ProxyConfig& c, std::vector<std::string>& errors) {
  if (c.node.role == Role::standalone) return;
  const char* role = to_string(c.node.role);
  auto require = [&](bool ok, std::string_view key) {
    if (!ok) errors.push_back(fmt::format("{}: required for role {}", key, role));
  };
  require(!c.service.ips.empty(), "service.ips");
  require(c.service.mac.has_value(), "service.mac");
  if (c.node.role == Role::primary) require(c.log.peer.has_value(), "log.peer");
  if (c.node.role == Role::backup) require(c.log.listen.has_value(), "log.listen");
  require(!c.arbiter.endpoints.empty(), "arbiter.endpoints");
}

}  // namespace

std::optional<ProxyConfig> parse_proxy_config(std::string_view toml_text, const std::string& source_name,
                                              std::vector<std::string>& errors) {
  const auto root = parse_toml(toml_text, source_name, errors);
  if (!root) return std::nullopt;
  const std::size_t errors_before = errors.size();
  ProxyConfig c;
  c.source_path = source_name;
  DocumentReader doc(*root,
                     {"node", "ports", "control", "service", "log", "failover", "arbiter", "garp", "tcp",
                      "replication", "dpdk", "logging"},
                     errors);
  if (!root->contains("node")) errors.emplace_back("node: required section");
  if (!root->contains("ports")) errors.emplace_back("ports: required section");
  // A missing section is one message; its required keys are not listed one by one.
  if ((*root)["node"].is_table()) read_node(doc.section("node"), c.node);
  if ((*root)["ports"].is_table()) read_ports(doc.section("ports"), c.ports);
  read_control(doc.section("control"), c.control);
  read_service(doc.section("service"), c.service);
  read_log(doc.section("log"), c.log);
  read_failover(doc.section("failover"), c.failover);
  read_arbiter_client(doc.section("arbiter"), c.arbiter);
  read_garp(doc.section("garp"), c.garp);
  read_tcp(doc.section("tcp"), c.tcp);
  read_replication(doc.section("replication"), c.replication);
  read_dpdk(doc.section("dpdk"), c.dpdk);
  read_logging(doc.section("logging"), c.logging);
  check_role_requirements(c, errors);
  if (errors.size() != errors_before) return std::nullopt;
  return c;
}

std::optional<ProxyConfig> load_proxy_config(const std::string& path, std::vector<std::string>& errors) {
  std::string text;
  if (!read_file(path, text, errors)) return std::nullopt;
  return parse_proxy_config(text, path, errors);
}

std::optional<ArbiterServerConfig> parse_arbiter_config(std::string_view toml_text,
                                                        const std::string& source_name,
                                                        std::vector<std::string>& errors) {
  const auto root = parse_toml(toml_text, source_name, errors);
  if (!root) return std::nullopt;
  const std::size_t errors_before = errors.size();
  ArbiterServerConfig c;
  c.source_path = source_name;
  DocumentReader doc(*root, {"arbiter", "cluster_keys", "logging"}, errors);
  if (!root->contains("arbiter")) errors.emplace_back("arbiter: required section");
  if ((*root)["arbiter"].is_table()) {
    auto r = doc.section("arbiter");
    r.endpoint("listen", c.listen, true);
    if (!r.present("data_dir")) {
      r.error("data_dir", "required");
    } else if (r.str("data_dir", c.data_dir) && c.data_dir.empty()) {
      r.error("data_dir", "must not be empty");
    }
    r.str("key_file", c.key_file);
    r.boolean("allow_unauthenticated", c.allow_unauthenticated);
    r.endpoint("control_listen", c.control_listen, true);
    r.finish();
  }
  if (const toml::table* keys = (*root)["cluster_keys"].as_table()) {
    for (auto&& [k, v] : *keys) {
      const std::string cluster(k.str());
      if (!is_identifier(cluster)) {
        errors.push_back(fmt::format("cluster_keys.{}: not a cluster name [A-Za-z0-9_.-]{{1,64}}", cluster));
      } else if (const auto* path = v.as_string(); path == nullptr || path->get().empty()) {
        errors.push_back(fmt::format("cluster_keys.{}: expected the path of a key file", cluster));
      } else {
        c.cluster_keys.emplace_back(cluster, path->get());
      }
    }
  }
  read_logging(doc.section("logging"), c.logging);
  if (errors.size() != errors_before) return std::nullopt;
  return c;
}

std::optional<ArbiterServerConfig> load_arbiter_config(const std::string& path,
                                                       std::vector<std::string>& errors) {
  std::string text;
  if (!read_file(path, text, errors)) return std::nullopt;
  return parse_arbiter_config(text, path, errors);
}

namespace {

void check_readable(std::string_view key, const std::string& path, std::vector<std::string>& errors) {
  if (path.empty()) return;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    errors.push_back(fmt::format("{}: file \"{}\" does not exist", key, path));
  } else if (!S_ISREG(st.st_mode)) {
    errors.push_back(fmt::format("{}: \"{}\" is not a regular file", key, path));
  } else if (::access(path.c_str(), R_OK) != 0) {
    errors.push_back(fmt::format("{}: file \"{}\" is not readable", key, path));
  }
}

void check_writable_dir_of(std::string_view key, const std::string& path, std::vector<std::string>& errors) {
  if (path.empty()) return;
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (::access(dir.c_str(), W_OK) != 0) {
    errors.push_back(fmt::format("{}: directory \"{}\" is not writable", key, dir));
  }
}

// DPDK ports may be named by PCI address or vdev spec rather than a kernel interface.
bool looks_like_kernel_interface(const std::string& name) {
  return !name.empty() && name.size() < IF_NAMESIZE && name.find_first_of(":,=") == std::string::npos;
}

}  // namespace

void check_proxy_environment(const ProxyConfig& cfg, std::vector<std::string>& errors) {
  const auto& p = cfg.ports;
  if (p.backend == "pcap" || p.backend == "dpdk") {
    const std::tuple<const char*, const std::string*, const std::string*> ports[] = {
        {"ports.ext", &p.ext, &cfg.dpdk.ext_device}, {"ports.int", &p.int_, &cfg.dpdk.int_device}};
    for (const auto& [key, name, device] : ports) {
      // With a [dpdk] device the name is only a label (a NIC bound to vfio-pci has no
      // kernel interface left).
      if (p.backend == "dpdk" && (!device->empty() || !looks_like_kernel_interface(*name))) continue;
      if (::if_nametoindex(name->c_str()) == 0) {
        errors.push_back(fmt::format("{}: network interface \"{}\" does not exist", key, *name));
      }
    }
  }
  if (p.backend == "pcap-file") {
    check_readable("ports.ext_rx_file", p.ext_rx_file, errors);
    check_readable("ports.int_rx_file", p.int_rx_file, errors);
    check_writable_dir_of("ports.ext_tx_file", p.ext_tx_file, errors);
    check_writable_dir_of("ports.int_tx_file", p.int_tx_file, errors);
  }
  check_readable("control.token_file", cfg.control.token_file, errors);
  check_readable("log.key_file", cfg.log.key_file, errors);
  check_readable("log.tls_cert_file", cfg.log.tls_cert_file, errors);
  check_readable("log.tls_key_file", cfg.log.tls_key_file, errors);
  check_readable("log.tls_ca_file", cfg.log.tls_ca_file, errors);
  check_readable("arbiter.key_file", cfg.arbiter.key_file, errors);
  check_readable("arbiter.tls_ca_file", cfg.arbiter.tls_ca_file, errors);
  check_readable("arbiter.tls_cert_file", cfg.arbiter.tls_cert_file, errors);
  check_readable("arbiter.tls_key_file", cfg.arbiter.tls_key_file, errors);
}

}  // namespace ftproxy::control
