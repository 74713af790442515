// etcd_race: two candidates race test_and_set on the same epochs through EtcdArbiter,
// each on its own thread, io_context and arbiter (two proxies), starting every epoch at
// the same instant (barrier) and entering the etcd cluster through different members.
//
//   etcd_race --endpoints H:P[,H:P...] --cluster NAME --from E --count N
//             [--timeout-ms 500] [--retry-for-ms 0] [--expect decided|unavailable]
//             [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]   (HTTPS, client certificate)
//
// --expect decided (default): every epoch must end with exactly one `won`, the other side
//   `lost` naming the winner, both with the same fencing token, and a read after the
//   race must show that owner and token. A candidate answered `unavailable` asks again
//   (every 20 ms) for at most --retry-for-ms.
// --expect unavailable: each candidate asks once per epoch; both must be answered
//   `unavailable` (a quorum is gone: no decision, won or lost, may be given).
// Prints one JSON summary line on stdout; violations (first 20) on stderr.
// Exit 0 when every epoch met the expectation, 1 otherwise, 2 on usage errors.
#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "ftproxy/arbiter/etcd_arbiter.hpp"

namespace {

using ftproxy::arbiter::ArbiterRead;
using ftproxy::arbiter::ArbiterResult;
using ftproxy::arbiter::EtcdArbiter;
using ftproxy::arbiter::EtcdArbiterOptions;
using ftproxy::arbiter::ServerAddress;
using Clock = std::chrono::steady_clock;

struct Args {
  std::vector<ServerAddress> endpoints;
  std::string cluster = "race";
  std::uint64_t from = 1;
  std::uint64_t count = 1000;
  std::chrono::milliseconds timeout{500};
  std::chrono::milliseconds retry_for{0};
  bool expect_unavailable = false;
  ftproxy::arbiter::EtcdTlsOptions tls;
};

std::optional<Args> parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    try {
      if (k == "--endpoints") {
        std::size_t start = 0;
        while (start <= v.size()) {
          std::size_t comma = v.find(',', start);
          std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          if (item.rfind("http://", 0) == 0) item = item.substr(7);
          if (item.rfind("https://", 0) == 0) item = item.substr(8);
          std::size_t colon = item.rfind(':');
          if (colon == std::string::npos) return std::nullopt;
          a.endpoints.push_back(
              {item.substr(0, colon), static_cast<std::uint16_t>(std::stoul(item.substr(colon + 1)))});
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
      } else if (k == "--tls-ca") {
        a.tls.enabled = true;
        a.tls.ca_file = v;
      } else if (k == "--tls-cert") {
        a.tls.enabled = true;
        a.tls.cert_file = v;
      } else if (k == "--tls-key") {
        a.tls.enabled = true;
        a.tls.key_file = v;
      } else if (k == "--cluster") {
        a.cluster = v;
      } else if (k == "--from") {
        a.from = std::stoull(v);
      } else if (k == "--count") {
        a.count = std::stoull(v);
      } else if (k == "--timeout-ms") {
        a.timeout = std::chrono::milliseconds(std::stoul(v));
      } else if (k == "--retry-for-ms") {
        a.retry_for = std::chrono::milliseconds(std::stoul(v));
      } else if (k == "--expect") {
        if (v != "decided" && v != "unavailable") return std::nullopt;
        a.expect_unavailable = v == "unavailable";
      } else {
        return std::nullopt;
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (a.endpoints.empty() || a.count == 0 || (argc - 1) % 2 != 0) return std::nullopt;
  return a;
}

struct Outcome {
  ArbiterResult result;
  int asks = 0;
};

// One candidate: a private io_context and arbiter, like a proxy.
class Candidate {
 public:
  Candidate(std::string name, EtcdArbiterOptions o) : name_(std::move(name)), arbiter_(io_, std::move(o)) {}

  Outcome ask(const Args& a, std::uint64_t epoch) {
    Outcome out;
    const auto give_up = Clock::now() + a.retry_for;
    for (;;) {
      ++out.asks;
      std::optional<ArbiterResult> r;
      arbiter_.test_and_set(a.cluster, epoch, name_, [&r](ArbiterResult x) { r = std::move(x); });
      io_.restart();
      io_.run();
      out.result = r.value_or(ArbiterResult{});
      if (out.result.kind != ArbiterResult::Kind::unavailable || a.expect_unavailable ||
          Clock::now() >= give_up)
        return out;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // back-off between real requests
    }
  }

  ArbiterRead read(const Args& a, std::uint64_t epoch) {
    std::optional<ArbiterRead> r;
    arbiter_.read(a.cluster, epoch, [&r](ArbiterRead x) { r = std::move(x); });
    io_.restart();
    io_.run();
    return r.value_or(ArbiterRead{});
  }

  const std::string& name() const { return name_; }

 private:
  std::string name_;
  boost::asio::io_context io_;
  EtcdArbiter arbiter_;
};

}  // namespace

int main(int argc, char** argv) {
  auto args = parse_args(argc, argv);
  if (!args) {
    std::cerr << "usage: etcd_race --endpoints H:P[,H:P...] [--cluster NAME] [--from E] [--count N]\n"
                 "                 [--timeout-ms MS] [--retry-for-ms MS] [--expect decided|unavailable]\n"
                 "                 [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]\n";
    return 2;
  }
  const Args& a = *args;
  EtcdArbiterOptions oa;
  oa.endpoints = a.endpoints;
  oa.timeout = a.timeout;
  oa.tls = a.tls;
  if (std::string err = ftproxy::arbiter::check_etcd_tls(a.tls); !err.empty()) {
    std::cerr << "etcd_race: " << err << "\n";
    return 2;
  }
  EtcdArbiterOptions ob = oa;
  // B enters the cluster through another member than A: the race crosses Raft.
  if (ob.endpoints.size() > 1)
    std::rotate(ob.endpoints.begin(), ob.endpoints.begin() + 1, ob.endpoints.end());
  Candidate ca("cand-a", oa), cb("cand-b", ob);

  std::vector<Outcome> ra(a.count), rb(a.count);
  std::barrier sync(2);
  auto run = [&](Candidate& c, std::vector<Outcome>& out) {
    for (std::uint64_t i = 0; i < a.count; ++i) {
      sync.arrive_and_wait();
      out[i] = c.ask(a, a.from + i);
    }
  };
  const auto start = Clock::now();
  std::thread ta(run, std::ref(ca), std::ref(ra));
  std::thread tb(run, std::ref(cb), std::ref(rb));
  ta.join();
  tb.join();

  std::uint64_t violations = 0, wins_a = 0, wins_b = 0, unavailable = 0, asks = 0;
  std::string first_message;
  auto violation = [&](std::uint64_t epoch, const std::string& what) {
    if (++violations <= 20) std::cerr << "epoch " << epoch << ": " << what << "\n";
  };
  auto describe = [](const Outcome& o) {
    std::string s = std::string(to_string(o.result.kind)) + "(" + o.result.owner + "," +
                    std::to_string(o.result.fencing_token) + ")";
    if (!o.result.message.empty()) s += " " + o.result.message;
    return s;
  };
  for (std::uint64_t i = 0; i < a.count; ++i) {
    const std::uint64_t epoch = a.from + i;
    const Outcome& x = ra[i];
    const Outcome& y = rb[i];
    asks += x.asks + y.asks;
    for (const Outcome* o : {&x, &y}) {
      if (o->result.kind != ArbiterResult::Kind::unavailable) continue;
      ++unavailable;
      if (first_message.empty()) first_message = o->result.message;
    }
    if (a.expect_unavailable) {
      if (x.result.kind != ArbiterResult::Kind::unavailable ||
          y.result.kind != ArbiterResult::Kind::unavailable)
        violation(epoch, "answered without a quorum: a=" + describe(x) + " b=" + describe(y));
      continue;
    }
    const bool a_won = x.result.kind == ArbiterResult::Kind::won;
    const bool b_won = y.result.kind == ArbiterResult::Kind::won;
    const Outcome& loser = a_won ? y : x;
    const std::string winner = a_won ? ca.name() : cb.name();
    if (a_won == b_won || loser.result.kind != ArbiterResult::Kind::lost) {
      violation(epoch, "not exactly one winner: a=" + describe(x) + " b=" + describe(y));
      continue;
    }
    a_won ? ++wins_a : ++wins_b;
    if (loser.result.owner != winner || x.result.fencing_token != y.result.fencing_token ||
        x.result.fencing_token == 0) {
      violation(epoch, "loser or token disagree: a=" + describe(x) + " b=" + describe(y));
      continue;
    }
    ArbiterRead r = (a_won ? cb : ca).read(a, epoch);
    if (r.kind != ArbiterRead::Kind::decided || r.owner != winner ||
        r.fencing_token != x.result.fencing_token)
      violation(epoch, "read after the race disagrees: " + std::string(to_string(r.kind)) + "(" + r.owner +
                           "," + std::to_string(r.fencing_token) + ") " + r.message);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  boost::json::object summary{{"epochs", a.count},
                              {"from", a.from},
                              {"expect", a.expect_unavailable ? "unavailable" : "decided"},
                              {"violations", violations},
                              {"wins_a", wins_a},
                              {"wins_b", wins_b},
                              {"unavailable_answers", unavailable},
                              {"asks", asks},
                              {"ms", ms},
                              {"first_unavailable_message", first_message}};
  std::cout << boost::json::serialize(summary) << std::endl;
  return violations == 0 ? 0 : 1;
}
