#include "ftproxy/ctl/render.hpp"

#include <initializer_list>
#include <iterator>

#include <fmt/format.h>
#include <boost/json.hpp>

namespace json = boost::json;

namespace ftproxy::ctl {
namespace {

// Field lookup through nested objects; nullptr when any step is missing.
const json::value* at(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::object* cur = &o;
  const json::value* v = nullptr;
  for (auto key : path) {
    if (!cur) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    v = &it->value();
    cur = v->if_object();
  }
  return v;
}

std::optional<std::string> str(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::value* v = at(o, path);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

std::optional<double> num(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::value* v = at(o, path);
  if (!v) return std::nullopt;
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

std::optional<std::uint64_t> uint(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::value* v = at(o, path);
  if (!v) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

std::optional<bool> flag(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::value* v = at(o, path);
  if (!v || !v->is_bool()) return std::nullopt;
  return v->get_bool();
}

std::string s_or(const std::optional<std::string>& v) {
  return v && !v->empty() ? *v : "-";
}
std::string u_or(const std::optional<std::uint64_t>& v) {
  return v ? std::to_string(*v) : "-";
}
std::string b_or(const std::optional<bool>& v) {
  return v ? (*v ? "yes" : "no") : "-";
}

bool parse_object(std::string_view text, json::value& out, std::string& error) {
  boost::system::error_code ec;
  out = json::parse(text, ec);
  if (ec) {
    error = "the answer is not JSON: " + ec.message();
    return false;
  }
  if (!out.is_object()) {
    error = "the answer is not a JSON object";
    return false;
  }
  return true;
}

void row(std::string& out, std::string_view label, std::string_view value) {
  fmt::format_to(std::back_inserter(out), "{:<12} {}\n", label, value);
}

std::string peer_line(const json::object& o) {
  const auto seen = flag(o, {"failover", "peer_seen"});
  const auto ms = num(o, {"failover", "ms_since_peer_heard"});
  if (!seen) return "-";
  if (!*seen || !ms || *ms < 0) return "never heard";
  return fmt::format("silent for {:.1f} ms", *ms);
}

std::string log_line(const json::object& o) {
  if (!at(o, {"log"})) return "-";
  std::string s = b_or(flag(o, {"log", "connected"})) == "yes" ? "connected" : "disconnected";
  if (at(o, {"log", "seq_sent"})) {
    s += fmt::format("; seq logged {}, sent {}, acked {}; lag {} entries, {} B",
                     u_or(uint(o, {"log", "seq_logged"})), u_or(uint(o, {"log", "seq_sent"})),
                     u_or(uint(o, {"log", "seq_acked"})), u_or(uint(o, {"log", "lag_entries"})),
                     u_or(uint(o, {"log", "lag_bytes"})));
    if (auto t = num(o, {"log", "lag_seconds"})) s += fmt::format(", {:.3f} s", *t);
  } else if (at(o, {"log", "seq_received"})) {
    s += fmt::format("; seq received {}, injected {}", u_or(uint(o, {"log", "seq_received"})),
                     u_or(uint(o, {"log", "seq_injected"})));
  }
  if (auto r = uint(o, {"log", "reconnects"}); r && *r) s += fmt::format("; {} reconnects", *r);
  return s;
}

std::string transition_line(const json::object& t) {
  std::string s;
  if (auto ago = num(t, {"seconds_ago"}))
    s += fmt::format("{:>10.3f} s ago  ", *ago);
  else
    s += fmt::format("{:>16}", "-  ");
  s += fmt::format("{} -> {}", s_or(str(t, {"from"})), s_or(str(t, {"to"})));
  if (auto e = uint(t, {"epoch"})) s += fmt::format("  epoch {}", *e);
  s += "  " + s_or(str(t, {"reason"}));
  if (auto d = str(t, {"detail"}); d && !d->empty()) s += " (" + *d + ")";
  if (auto a = str(t, {"answer"}); a && !a->empty()) {
    s += "; arbiter: " + *a;
    if (auto w = str(t, {"owner"}); w && !w->empty()) s += ", owner " + *w;
    if (auto f = uint(t, {"fencing_token"}); f && *f) s += fmt::format(", token {}", *f);
  }
  return s;
}

std::string read_line(const arbiter::ArbiterRead& r) {
  switch (r.kind) {
    case arbiter::ArbiterRead::Kind::decided:
      return fmt::format("won by {} (epoch {}, fencing token {})", r.owner, r.epoch, r.fencing_token);
    case arbiter::ArbiterRead::Kind::undecided:
      return "undecided";
    case arbiter::ArbiterRead::Kind::unavailable:
      return "unavailable: " + r.message;
  }
  return "?";
}

json::object read_json(const arbiter::ArbiterRead& r) {
  json::object o;
  o["result"] = arbiter::to_string(r.kind);
  if (r.kind == arbiter::ArbiterRead::Kind::decided) {
    o["epoch"] = r.epoch;
    o["owner"] = r.owner;
    o["fencing_token"] = r.fencing_token;
  }
  if (!r.message.empty()) o["message"] = r.message;
  return o;
}

}  // namespace

bool render_status(std::string_view text, std::string& out, std::string& error) {
  json::value v;
  if (!parse_object(text, v, error)) return false;
  const json::object& o = v.get_object();
  row(out, "node",
      fmt::format("{} (cluster {}, role {})", s_or(str(o, {"node"})), s_or(str(o, {"cluster"})),
                  s_or(str(o, {"role"}))));
  row(out, "state", s_or(str(o, {"state"})));
  row(out, "epoch", u_or(uint(o, {"epoch"})));
  if (auto up = num(o, {"uptime_s"})) row(out, "uptime", fmt::format("{:.1f} s", *up));
  row(out, "peer", peer_line(o));
  row(out, "log", log_line(o));
  if (at(o, {"output_gate"})) {
    row(out, "outputs",
        fmt::format("held {} ({} B), max held {}, released {}, dropped {}",
                    u_or(uint(o, {"output_gate", "held"})), u_or(uint(o, {"output_gate", "held_bytes"})),
                    u_or(uint(o, {"output_gate", "held_max"})), u_or(uint(o, {"output_gate", "released"})),
                    u_or(uint(o, {"output_gate", "dropped_full"}))));
  } else {
    row(out, "outputs", "-");
  }
  row(out, "flows", u_or(uint(o, {"tcp", "flows"})));
  row(out, "divergence", u_or(uint(o, {"tcp", "divergence"})));
  std::string fo = u_or(uint(o, {"failover", "failovers"}));
  if (auto asks = uint(o, {"failover", "arbiter_asks"}))
    fo += fmt::format(" (arbiter asks {}, unavailable {})", *asks,
                      u_or(uint(o, {"failover", "arbiter_unavailable"})));
  row(out, "failovers", fo);
  if (auto cause = str(o, {"failover", "fence_cause"}); cause && *cause != "none")
    row(out, "fence cause", *cause);
  if (auto owner = str(o, {"failover", "owner"}); owner && !owner->empty())
    row(out, "arbiter",
        fmt::format("owner {}, fencing token {}", *owner, u_or(uint(o, {"failover", "fencing_token"}))));
  if (auto msg = str(o, {"failover", "last_arbiter_message"}); msg && !msg->empty())
    row(out, "arbiter msg", *msg);

  const json::value* hist = at(o, {"failover", "transitions"});
  if (hist && hist->is_array() && !hist->get_array().empty()) {
    const auto& arr = hist->get_array();
    const std::size_t first = arr.size() > kStatusTransitions ? arr.size() - kStatusTransitions : 0;
    row(out, "transitions", fmt::format("last {} of {}, oldest first", arr.size() - first, arr.size()));
    for (std::size_t i = first; i < arr.size(); ++i) {
      if (const auto* t = arr[i].if_object()) out += "  " + transition_line(*t) + "\n";
    }
  } else {
    row(out, "transitions", "none");
  }
  return true;
}

bool render_flows(std::string_view text, std::string& out, std::string& error) {
  json::value v;
  if (!parse_object(text, v, error)) return false;
  const json::value* flows = at(v.get_object(), {"flows"});
  if (!flows || !flows->is_array()) {
    error = "the answer has no \"flows\" array";
    return false;
  }
  const auto& arr = flows->get_array();
  fmt::format_to(std::back_inserter(out), "{:<22} {:<22} {:>4} {:<12} {:>10} {:>10} {:>6} {:>8}\n", "CLIENT",
                 "SERVER", "VLAN", "STATE", "SEQ_DELTA", "TS_DELTA", "QUEUED", "IDLE_S");
  for (const auto& item : arr) {
    const auto* f = item.if_object();
    if (!f) continue;
    const auto delta =
        flag(*f, {"delta_known"}).value_or(false) ? u_or(uint(*f, {"seq_delta"})) : std::string("?");
    const auto ts = flag(*f, {"ts_known"}).value_or(false) ? u_or(uint(*f, {"ts_delta"})) : std::string("-");
    const auto idle = num(*f, {"idle_seconds"});
    fmt::format_to(std::back_inserter(out), "{:<22} {:<22} {:>4} {:<12} {:>10} {:>10} {:>6} {:>8}\n",
                   s_or(str(*f, {"client"})), s_or(str(*f, {"server"})), u_or(uint(*f, {"vlan"})),
                   s_or(str(*f, {"state"})), delta, ts, u_or(uint(*f, {"queued"})),
                   idle ? fmt::format("{:.1f}", *idle) : std::string("-"));
  }
  fmt::format_to(std::back_inserter(out), "{} flow{}\n", arr.size(), arr.size() == 1 ? "" : "s");
  if (arr.empty()) out += "(only a backup, or a backup gone live, keeps a translation table)\n";
  return true;
}

std::optional<std::string> status_state(std::string_view text) {
  json::value v;
  std::string error;
  if (!parse_object(text, v, error)) return std::nullopt;
  return str(v.get_object(), {"state"});
}

std::optional<std::string> status_cluster(std::string_view text) {
  json::value v;
  std::string error;
  if (!parse_object(text, v, error)) return std::nullopt;
  return str(v.get_object(), {"cluster"});
}

std::optional<std::uint64_t> status_epoch(std::string_view text) {
  json::value v;
  std::string error;
  if (!parse_object(text, v, error)) return std::nullopt;
  return uint(v.get_object(), {"epoch"});
}

std::string render_epoch_show(const std::string& cluster, std::uint64_t epoch,
                              const arbiter::ArbiterRead& current, const arbiter::ArbiterRead& latest) {
  std::string out;
  row(out, "cluster", cluster);
  row(out, "epoch", fmt::format("{}: {}", epoch, read_line(current)));
  row(out, "latest", read_line(latest));
  if (latest.kind == arbiter::ArbiterRead::Kind::decided && latest.epoch > epoch)
    out += fmt::format("note: epoch {} is already decided; a proxy still configured for epoch {} is stale\n",
                       latest.epoch, epoch);
  return out;
}

std::string epoch_show_json(const std::string& cluster, std::uint64_t epoch,
                            const arbiter::ArbiterRead& current, const arbiter::ArbiterRead& latest) {
  json::object o;
  o["cluster"] = cluster;
  o["epoch"] = epoch;
  o["current"] = read_json(current);
  o["latest"] = read_json(latest);
  return json::serialize(o) + "\n";
}

std::string render_epoch_new(const std::string& cluster, std::uint64_t next,
                             const arbiter::ArbiterRead& latest, std::optional<std::uint64_t> configured) {
  std::string out;
  fmt::format_to(std::back_inserter(out), "next epoch: {}\n", next);
  fmt::format_to(std::back_inserter(out), "  cluster {}; latest decided: {}; configured epoch: {}\n", cluster,
                 latest.kind == arbiter::ArbiterRead::Kind::decided
                     ? fmt::format("epoch {} won by {}", latest.epoch, latest.owner)
                     : std::string("none"),
                 configured ? std::to_string(*configured) : std::string("unknown"));
  fmt::format_to(std::back_inserter(out),
                 "\nTo re-protect the pair in epoch {0} (nothing is changed by this command):\n"
                 "  1. ftproxy cannot copy a running server's state: both server copies must start\n"
                 "     from identical state. Plan a maintenance window; TCP connections through the\n"
                 "     live proxy end when it restarts, and clients must reconnect.\n"
                 "  2. Stop both proxies, then both servers. Copy the state of the copy that served\n"
                 "     last (behind the live proxy) onto the other copy.\n"
                 "  3. In BOTH proxy configs set   node.epoch = {0}   and choose the roles\n"
                 "     (node.role = \"primary\" on one, \"backup\" on the other).\n"
                 "  4. Start both servers from the identical state, then the backup proxy, then the\n"
                 "     primary proxy.\n"
                 "  5. Check: ftproxyctl status --expect-state primary (on the primary's host) and\n"
                 "     ftproxyctl status --expect-state backup (on the backup's host).\n"
                 "  Epoch {0} is a fresh arbiter flag: the decision of the old epoch cannot be reused.\n",
                 next);
  return out;
}

}  // namespace ftproxy::ctl
