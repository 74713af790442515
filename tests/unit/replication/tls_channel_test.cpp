// The log channel over TLS ([log] tls = true) on real loopback TCP, time from a
// ManualClock moved by the pump loop. The certificates are made once per run with the
// openssl CLI into a temporary directory: CA "a" signs the pair's certificates, CA "b"
// an intruder's. EC P-256, valid one day.
#include "ftproxy/replication/channel.hpp"

#include "channel_loop.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ftproxy::replication {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Bytes = std::vector<std::uint8_t>;

constexpr auto kTlsFailure = static_cast<std::size_t>(AuthFailure::tls_handshake);

std::string g_dir;  // the run's certificates; empty when openssl failed

bool run(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

bool make_ca(const std::string& name) {
  return run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -keyout " +
             g_dir + "/" + name + ".key -out " + g_dir + "/" + name + ".pem -subj '/CN=ftproxy test " + name +
             "'");
}

bool make_cert(const std::string& name, const std::string& ca) {
  const std::string p = g_dir + "/" + name;
  return run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + p +
             ".key -out " + p + ".csr -subj '/CN=" + name + "'") &&
         run("openssl x509 -req -in " + p + ".csr -CA " + g_dir + "/" + ca + ".pem -CAkey " + g_dir + "/" +
             ca + ".key -CAcreateserial -days 1 -out " + p + ".pem") &&
         ::chmod((p + ".key").c_str(), 0600) == 0;
}

class TlsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/ftproxy-log-tls-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    g_dir = tmpl;
    if (!(make_ca("ca-a") && make_ca("ca-b") && make_cert("primary", "ca-a") && make_cert("backup", "ca-a") &&
          make_cert("intruder", "ca-b"))) {
      std::filesystem::remove_all(g_dir);
      g_dir.clear();
    }
  }
  void TearDown() override {
    if (!g_dir.empty()) std::filesystem::remove_all(g_dir);
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new TlsEnvironment);

// `cert` signed by CA "a" or "b"; trusting `ca`.
std::shared_ptr<LogTls> tls_for(const std::string& cert, const std::string& ca = "ca-a") {
  std::string err;
  auto t = make_log_tls({g_dir + "/" + cert + ".pem", g_dir + "/" + cert + ".key", g_dir + "/" + ca + ".pem"},
                        err);
  EXPECT_TRUE(t) << err;
  return t;
}

Bytes payload_for(std::uint64_t seq) {
  Bytes b(20 + seq % 200);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(seq + i);
  return b;
}

class TlsChannel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (g_dir.empty()) GTEST_SKIP() << "the openssl CLI could not make the test certificates";
  }

  asio::io_context io;
  ManualClock clock;
  std::vector<std::uint64_t> delivered;
  bool data_ok = true;
  std::optional<LogReceiver> rx;
  std::optional<LogSender> tx;
  std::vector<LogSender*> others;  // intruders, ticked by the loop too

  ReceiverConfig receiver_config(std::shared_ptr<LogTls> tls) {
    ReceiverConfig c;
    c.cluster = "prod";
    c.epoch = 3;
    c.node_name = "backup-1";
    c.listen = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
    c.clock = [this] { return clock.now(); };
    c.tls = std::move(tls);
    return c;
  }

  SenderConfig sender_config(std::shared_ptr<LogTls> tls) {
    SenderConfig c;
    c.cluster = "prod";
    c.epoch = 3;
    c.node_name = "primary-1";
    c.peer = rx->local_endpoint();
    c.clock = [this] { return clock.now(); };
    c.tls = std::move(tls);
    return c;
  }

  void start_receiver(ReceiverConfig c) {
    rx.emplace(io, std::move(c), [this](const EntryView& e) {
      if (Bytes(e.data.begin(), e.data.end()) != payload_for(e.seq)) data_ok = false;
      delivered.push_back(e.seq);
      return true;
    });
    std::string err;
    ASSERT_TRUE(rx->listen(err)) << err;
  }

  void iterate() {
    test::loop_iteration(io, clock, [&](MonoTime now) {
      for (LogSender* s : others) s->tick(now);
      if (tx) {
        tx->flush();
        tx->tick(now);
      }
      if (rx) rx->tick(now);
    });
  }

  template <class Pred>
  bool pump(Pred done, int max_iterations = 40000) {
    return test::pump_until([&] { iterate(); }, done, max_iterations);
  }

  // Queues entries up to `upto` and waits until all are delivered and acked.
  bool replicate_to(std::uint64_t upto) {
    return pump([&] {
      while (tx->last_queued_seq() < upto) {
        const std::uint64_t seq = tx->last_queued_seq() + 1;
        if (tx->queue_entry(EntryKind::inbound_frame, seq * 10, payload_for(seq)) == 0) break;
      }
      return tx->acked_seq() == upto && rx->last_delivered_seq() == upto;
    });
  }

  bool delivered_in_order(std::uint64_t upto) const {
    if (delivered.size() != upto) return false;
    for (std::uint64_t i = 0; i < upto; ++i) {
      if (delivered[i] != i + 1) return false;
    }
    return data_ok;
  }
};

TEST_F(TlsChannel, EntriesFlowOverTlsAndAreAckedWithAndWithoutTheKey) {
  for (const bool keyed : {false, true}) {
    SCOPED_TRACE(keyed ? "tls + psk" : "tls only");
    delivered.clear();
    tx.reset();
    rx.reset();
    const Bytes key(32, 0x5c);
    ReceiverConfig rc = receiver_config(tls_for("backup"));
    if (keyed) rc.psk = key;
    start_receiver(rc);
    SenderConfig sc = sender_config(tls_for("primary"));
    if (keyed) sc.psk = key;
    tx.emplace(io, sc);
    tx->start(clock.now());
    ASSERT_TRUE(pump([&] { return tx->connected() && rx->connected(); }));
    ASSERT_TRUE(replicate_to(3000));
    EXPECT_TRUE(delivered_in_order(3000));
    EXPECT_EQ(tx->stats().authenticated, keyed ? 1u : 0u);
    EXPECT_EQ(rx->stats().authenticated, keyed ? 1u : 0u);
    // Batching is kept: far fewer writes than entries.
    EXPECT_LT(tx->stats().writes, 3000u / 4);
    // A reconnect handshakes again and resends nothing twice.
    tx->drop_connection();
    ASSERT_TRUE(pump([&] { return tx->connected() && rx->connected(); }));
    ASSERT_TRUE(replicate_to(3500));
    EXPECT_TRUE(delivered_in_order(3500));
    EXPECT_EQ(rx->stats().auth_failures[kTlsFailure], 0u);
    EXPECT_EQ(tx->stats().auth_failures[kTlsFailure], 0u);
  }
}

TEST_F(TlsChannel, CertificateFromAnotherCaIsRefusedAndCountedWhileThePairKeepsReplicating) {
  start_receiver(receiver_config(tls_for("backup")));
  tx.emplace(io, sender_config(tls_for("primary")));
  tx->start(clock.now());
  ASSERT_TRUE(pump([&] { return tx->connected() && rx->connected(); }));
  ASSERT_TRUE(replicate_to(500));

  // The intruder trusts the pair's CA (it is public) but its certificate is from CA b:
  // the backup's verification refuses it. (In TLS 1.3 the client's side of the
  // handshake is over before the server checks the client certificate; the intruder
  // then usually reads the backup's "unknown ca" alert, but the TCP reset of the close
  // may overtake it, so only the backup's count is asserted.)
  LogSender intruder(io, sender_config(tls_for("intruder", "ca-a")));
  others.push_back(&intruder);
  intruder.start(clock.now());
  ASSERT_TRUE(pump([&] { return rx->stats().auth_failures[kTlsFailure] >= 2; }));
  EXPECT_EQ(rx->last_auth_failure(), AuthFailure::tls_handshake);
  EXPECT_FALSE(intruder.connected());
  EXPECT_EQ(intruder.stats().connects, 0u);
  intruder.stop();
  others.clear();

  // One that trusts only its own CA refuses the backup (and the backup sees it leave).
  const auto before = rx->stats().auth_failures[kTlsFailure];
  LogSender stranger(io, sender_config(tls_for("intruder", "ca-b")));
  others.push_back(&stranger);
  stranger.start(clock.now());
  ASSERT_TRUE(pump([&] {
    return stranger.stats().auth_failures[kTlsFailure] >= 1 &&
           rx->stats().auth_failures[kTlsFailure] > before;
  }));
  EXPECT_EQ(stranger.last_auth_failure(), AuthFailure::tls_handshake);
  EXPECT_EQ(stranger.stats().connects, 0u);
  stranger.stop();
  others.clear();

  // The pair never noticed.
  ASSERT_TRUE(replicate_to(1500));
  EXPECT_TRUE(delivered_in_order(1500));
  EXPECT_TRUE(tx->connected());
  EXPECT_EQ(tx->stats().reconnects, 0u);
  EXPECT_EQ(rx->stats().connects, 1u);
}

TEST_F(TlsChannel, PlaintextAndTlsMismatchesAreRefusedOnBothSides) {
  // A plaintext primary at a TLS backup: the handshake fails on the backup.
  start_receiver(receiver_config(tls_for("backup")));
  LogSender plain(io, sender_config(nullptr));
  others.push_back(&plain);
  plain.start(clock.now());
  ASSERT_TRUE(pump([&] { return rx->stats().auth_failures[kTlsFailure] >= 1; }));
  EXPECT_FALSE(plain.connected());
  EXPECT_FALSE(rx->connected());
  EXPECT_EQ(rx->stats().connects, 0u);
  EXPECT_EQ(plain.stats().connects, 0u);
  plain.stop();
  others.clear();
  rx.reset();

  // A TLS primary at a plaintext backup: the backup recognises the TLS record and says
  // so; the primary's handshake fails.
  start_receiver(receiver_config(nullptr));
  LogSender tls(io, sender_config(tls_for("primary")));
  others.push_back(&tls);
  tls.start(clock.now());
  ASSERT_TRUE(pump([&] {
    return rx->stats().auth_failures[kTlsFailure] >= 1 && tls.stats().auth_failures[kTlsFailure] >= 1;
  }));
  EXPECT_EQ(rx->last_auth_failure(), AuthFailure::tls_handshake);
  EXPECT_EQ(rx->stats().connects, 0u);
  EXPECT_EQ(tls.stats().connects, 0u);
  tls.stop();
  others.clear();
}

TEST_F(TlsChannel, AHandshakeThatNeverStartsEndsAtTheHelloTimeout) {
  ReceiverConfig rc = receiver_config(tls_for("backup"));
  rc.hello_timeout = milliseconds(20);
  start_receiver(rc);
  tcp::socket silent(io);
  silent.connect(rx->local_endpoint());
  ASSERT_TRUE(pump([&] { return rx->stats().hello_timeouts == 1; }));
  EXPECT_EQ(rx->stats().refused_hellos, 1u);
  EXPECT_EQ(rx->stats().connects, 0u);
}

TEST(LogTls, BadFilesAreRefusedWithTheKeyNamed) {
  if (g_dir.empty()) GTEST_SKIP() << "the openssl CLI could not make the test certificates";
  std::string err;
  const std::string d = g_dir + "/";
  EXPECT_FALSE(make_log_tls({d + "primary.pem", d + "primary.key", d + "missing.pem"}, err));
  EXPECT_EQ(err.rfind("tls_ca_file: ", 0), 0u) << err;
  EXPECT_FALSE(make_log_tls({d + "missing.pem", d + "primary.key", d + "ca-a.pem"}, err));
  EXPECT_EQ(err.rfind("tls_cert_file: ", 0), 0u) << err;
  // Someone else's key.
  EXPECT_FALSE(make_log_tls({d + "primary.pem", d + "backup.key", d + "ca-a.pem"}, err));
  EXPECT_EQ(err.rfind("tls_key_file: ", 0), 0u) << err;
  EXPECT_NE(err.find("mismatch"), std::string::npos) << err;
  // A key others can read: the secret-file reader refuses it.
  std::filesystem::copy_file(d + "primary.key", d + "open.key");
  ASSERT_EQ(::chmod((d + "open.key").c_str(), 0644), 0);
  EXPECT_FALSE(make_log_tls({d + "primary.pem", d + "open.key", d + "ca-a.pem"}, err));
  EXPECT_NE(err.find("tls_key_file: "), std::string::npos) << err;
  EXPECT_NE(err.find("0644"), std::string::npos) << err;
  // Not PEM.
  ASSERT_EQ(::chmod((d + "open.key").c_str(), 0600), 0);
  ASSERT_TRUE(run("echo not-a-key > " + d + "open.key"));
  EXPECT_FALSE(make_log_tls({d + "primary.pem", d + "open.key", d + "ca-a.pem"}, err));
  EXPECT_EQ(err.rfind("tls_key_file: cannot load the private key", 0), 0u) << err;
  EXPECT_TRUE(make_log_tls({d + "primary.pem", d + "primary.key", d + "ca-a.pem"}, err)) << err;
}

}  // namespace
}  // namespace ftproxy::replication
