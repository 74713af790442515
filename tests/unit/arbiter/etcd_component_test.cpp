// EtcdArbiter against a REAL single-member etcd started by the test on 127.0.0.1 (free
// ports, temp data dir), killed at the end. Skipped when `etcd` is not installed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "ftproxy/arbiter/etcd_arbiter.hpp"
#include "temp_dir.hpp"

extern char** environ;

namespace ftproxy::arbiter {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

bool have_command(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// A port nobody listens on right now (the kernel's pick for an ephemeral bind).
std::uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

ArbiterResult tas(asio::io_context& io, Arbiter& arb, const std::string& cluster, std::uint64_t epoch,
                  const std::string& candidate) {
  std::optional<ArbiterResult> out;
  arb.test_and_set(cluster, epoch, candidate, [&](ArbiterResult r) { out = std::move(r); });
  io.restart();
  io.run();
  EXPECT_TRUE(out.has_value());
  return out.value_or(ArbiterResult{});
}

ArbiterRead run_read(asio::io_context& io, Arbiter& arb, const std::string& cluster,
                     std::optional<std::uint64_t> epoch) {
  std::optional<ArbiterRead> out;
  auto cb = [&](ArbiterRead r) { out = std::move(r); };
  if (epoch)
    arb.read(cluster, *epoch, cb);
  else
    arb.latest(cluster, cb);
  io.restart();
  io.run();
  EXPECT_TRUE(out.has_value());
  return out.value_or(ArbiterRead{});
}

// One etcd member in the foreground of a child process (never daemonized).
class EtcdProcess {
 public:
  explicit EtcdProcess(const testing::TempDir& dir) {
    client_port_ = free_port();
    peer_port_ = free_port();
    while (peer_port_ == client_port_) peer_port_ = free_port();
    const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args = {"etcd",
                                     "--name",
                                     "t1",
                                     "--data-dir",
                                     dir.file("etcd-data"),
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     "t1=" + peer,
                                     "--logger",
                                     "zap"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, dir.file("etcd.stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    if (posix_spawnp(&pid_, "etcd", &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~EtcdProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Polls until the member answers a linearizable read (bounded: 20 s).
  bool wait_ready() {
    if (pid_ <= 0) return false;
    asio::io_context io;
    EtcdArbiter arb(io, options());
    for (int i = 0; i < 200; ++i) {
      if (run_read(io, arb, "ready", 1).kind != ArbiterRead::Kind::unavailable) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  EtcdArbiterOptions options() const {
    EtcdArbiterOptions o;
    o.endpoints = {{"127.0.0.1", client_port_}};
    o.timeout = 2000ms;
    return o;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  std::uint16_t client_port() const { return client_port_; }
  std::uint16_t peer_port() const { return peer_port_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t client_port_ = 0;
  std::uint16_t peer_port_ = 0;
};

class EtcdComponent : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_command("etcd")) return;
    dir_ = new testing::TempDir();
    etcd_ = new EtcdProcess(*dir_);
    ready_ = etcd_->wait_ready();
  }
  static void TearDownTestSuite() {
    delete etcd_;
    delete dir_;
    etcd_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!have_command("etcd")) GTEST_SKIP() << "etcd is not installed";
    ASSERT_TRUE(ready_) << "etcd did not start (see its log in " << dir_->path() << ")";
  }

  static testing::TempDir* dir_;
  static EtcdProcess* etcd_;
  static bool ready_;
  asio::io_context io_;
};

testing::TempDir* EtcdComponent::dir_ = nullptr;
EtcdProcess* EtcdComponent::etcd_ = nullptr;
bool EtcdComponent::ready_ = false;

TEST_F(EtcdComponent, FirstCandidateWinsOthersLearnTheOwner) {
  EtcdArbiter arb(io_, etcd_->options());
  ArbiterResult a = tas(io_, arb, "race", 1, "p1");
  ASSERT_EQ(a.kind, ArbiterResult::Kind::won) << a.message;
  EXPECT_EQ(a.owner, "p1");
  EXPECT_GT(a.fencing_token, 0u);

  ArbiterResult b = tas(io_, arb, "race", 1, "b1");
  EXPECT_EQ(b.kind, ArbiterResult::Kind::lost) << b.message;
  EXPECT_EQ(b.owner, "p1");
  EXPECT_EQ(b.fencing_token, a.fencing_token);

  ArbiterResult again = tas(io_, arb, "race", 1, "p1");  // idempotent
  EXPECT_EQ(again.kind, ArbiterResult::Kind::won);
  EXPECT_EQ(again.fencing_token, a.fencing_token);

  ArbiterResult next = tas(io_, arb, "race", 2, "b1");
  EXPECT_EQ(next.kind, ArbiterResult::Kind::won) << next.message;
  EXPECT_GT(next.fencing_token, a.fencing_token);  // etcd revisions only grow

  ArbiterRead r = run_read(io_, arb, "race", 1);
  EXPECT_EQ(r.kind, ArbiterRead::Kind::decided) << r.message;
  EXPECT_EQ(r.owner, "p1");
  EXPECT_EQ(r.fencing_token, a.fencing_token);
  EXPECT_EQ(run_read(io_, arb, "race", 3).kind, ArbiterRead::Kind::undecided);
}

TEST_F(EtcdComponent, LatestIsNumericAcrossLexicographicOrder) {
  EtcdArbiter arb(io_, etcd_->options());
  EXPECT_EQ(run_read(io_, arb, "lat", std::nullopt).kind, ArbiterRead::Kind::undecided);
  for (std::uint64_t e : {9u, 10u, 2u})
    ASSERT_EQ(tas(io_, arb, "lat", e, "n" + std::to_string(e)).kind, ArbiterResult::Kind::won);
  // Another cluster whose name extends this one's must not leak in.
  ASSERT_EQ(tas(io_, arb, "lat2", 99, "x").kind, ArbiterResult::Kind::won);
  ArbiterRead l = run_read(io_, arb, "lat", std::nullopt);
  EXPECT_EQ(l.kind, ArbiterRead::Kind::decided) << l.message;
  EXPECT_EQ(l.epoch, 10u);
  EXPECT_EQ(l.owner, "n10");

  EtcdArbiterOptions small = etcd_->options();
  small.max_latest_keys = 2;
  EtcdArbiter bounded(io_, small);
  ArbiterRead t = run_read(io_, bounded, "lat", std::nullopt);
  EXPECT_EQ(t.kind, ArbiterRead::Kind::unavailable);
  EXPECT_NE(t.message.find("more than 2 keys"), std::string::npos) << t.message;
}

TEST_F(EtcdComponent, BlockingFormsForCommandLineTools) {
  ArbiterResult r = test_and_set_blocking(etcd_->options(), "blocking", 7, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::won) << r.message;
  ArbiterRead one = read_blocking(etcd_->options(), "blocking", 7);
  EXPECT_EQ(one.owner, "p1");
  EXPECT_EQ(one.fencing_token, r.fencing_token);
  ArbiterRead last = latest_blocking(etcd_->options(), "blocking");
  EXPECT_EQ(last.kind, ArbiterRead::Kind::decided) << last.message;
  EXPECT_EQ(last.epoch, 7u);
}

TEST_F(EtcdComponent, CallbackNeverRunsInline) {
  EtcdArbiter arb(io_, etcd_->options());
  bool called = false;
  arb.test_and_set("inline", 1, "p1", [&](ArbiterResult) { called = true; });
  arb.test_and_set("bad/name", 1, "p1", [&](ArbiterResult r) {
    EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
    called = true;
  });
  EXPECT_FALSE(called);
  io_.run();
  EXPECT_TRUE(called);
}

TEST_F(EtcdComponent, FailsOverPastRefusedAndSilentEndpoints) {
  tcp::acceptor silent(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));  // never accepts
  EtcdArbiterOptions o = etcd_->options();
  o.endpoints = {{"127.0.0.1", free_port()}, {"127.0.0.1", silent.local_endpoint().port()}, o.endpoints[0]};
  o.timeout = 1500ms;
  EtcdArbiter arb(io_, o);
  ArbiterResult r = tas(io_, arb, "failover", 1, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::won) << r.message;
}

TEST_F(EtcdComponent, AllEndpointsDownNamesEachFailure) {
  tcp::acceptor silent(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  EtcdArbiterOptions o;
  std::uint16_t refused = free_port();
  o.endpoints = {{"127.0.0.1", refused}, {"127.0.0.1", silent.local_endpoint().port()}};
  o.timeout = 300ms;
  EtcdArbiter arb(io_, o);
  auto start = std::chrono::steady_clock::now();
  ArbiterResult r = tas(io_, arb, "down", 1, "p1");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(r.message.find("127.0.0.1:" + std::to_string(refused) + " connect:"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find(std::to_string(silent.local_endpoint().port()) + " timed out"), std::string::npos)
      << r.message;
  EXPECT_LT(took, 1500ms);
}

TEST_F(EtcdComponent, WrongEndpointIsReportedAsNotEtcd) {
  // etcd's peer port speaks HTTP but not the v3 gateway.
  EtcdArbiterOptions o = etcd_->options();
  o.endpoints = {{"127.0.0.1", etcd_->peer_port()}};
  EtcdArbiter arb(io_, o);
  ArbiterResult r = tas(io_, arb, "wrong", 1, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(r.message.find("not an etcd v3 gateway"), std::string::npos) << r.message;
}

TEST_F(EtcdComponent, DestroyedArbiterDropsCallbacks) {
  bool called = false;
  {
    EtcdArbiter arb(io_, etcd_->options());
    arb.test_and_set("gone", 1, "p1", [&](ArbiterResult) { called = true; });
  }
  io_.run();
  EXPECT_FALSE(called);
}

// Authentication runs on its own etcd: enabling auth changes the whole member.
TEST(EtcdAuthComponent, UserPasswordAuthAndTokenRenewal) {
  if (!have_command("etcd") || !have_command("etcdctl")) GTEST_SKIP() << "etcd/etcdctl not installed";
  testing::TempDir dir;
  EtcdProcess etcd(dir);
  ASSERT_TRUE(etcd.wait_ready()) << "etcd did not start";
  const std::string ctl = "ETCDCTL_API=3 etcdctl --command-timeout=5s --endpoints " + etcd.url() + " ";
  ASSERT_EQ(std::system((ctl + "user add root:s3cret >/dev/null 2>&1").c_str()), 0);
  ASSERT_EQ(std::system((ctl + "auth enable >/dev/null 2>&1").c_str()), 0);

  asio::io_context io;
  {
    EtcdArbiter anonymous(io, etcd.options());
    ArbiterResult r = tas(io, anonymous, "auth", 1, "p1");
    EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
    EXPECT_NE(r.message.find("arbiter.username"), std::string::npos) << r.message;
  }
  {
    EtcdArbiterOptions o = etcd.options();
    o.username = "root";
    o.password = "wrong";
    EtcdArbiter bad(io, o);
    ArbiterResult r = tas(io, bad, "auth", 1, "p1");
    EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
    EXPECT_NE(r.message.find("authentication failed"), std::string::npos) << r.message;
  }
  EtcdArbiterOptions o = etcd.options();
  o.username = "root";
  o.password = "s3cret";
  EtcdArbiter good(io, o);
  ArbiterResult won = tas(io, good, "auth", 1, "p1");
  EXPECT_EQ(won.kind, ArbiterResult::Kind::won) << won.message;

  // Disabling auth drops every token: the cached one is now invalid and gets renewed.
  ASSERT_EQ(std::system((ctl + "--user root:s3cret auth disable >/dev/null 2>&1").c_str()), 0);
  ASSERT_EQ(std::system((ctl + "auth enable >/dev/null 2>&1").c_str()), 0);
  ArbiterResult lost = tas(io, good, "auth", 1, "b1");
  EXPECT_EQ(lost.kind, ArbiterResult::Kind::lost) << lost.message;
  EXPECT_EQ(lost.owner, "p1");
}

TEST(EtcdPasswordFile, FirstLineTrimmed) {
  testing::TempDir dir;
  dir.write("pw", "s3cret \r\nignored\n");
  dir.write("empty", "\n");
  dir.write("open", "s3cret\n");
  for (const char* f : {"pw", "empty"}) ::chmod(dir.file(f).c_str(), 0600);
  ::chmod(dir.file("open").c_str(), 0644);
  std::string error;
  EXPECT_EQ(load_etcd_password_file(dir.file("pw"), error).value_or(""), "s3cret");
  EXPECT_FALSE(load_etcd_password_file(dir.file("open"), error).has_value());
  EXPECT_NE(error.find("mode 0644"), std::string::npos) << error;
  EXPECT_FALSE(load_etcd_password_file(dir.file("empty"), error).has_value());
  EXPECT_NE(error.find("empty"), std::string::npos);
  EXPECT_FALSE(load_etcd_password_file(dir.file("missing"), error).has_value());
}

}  // namespace
}  // namespace ftproxy::arbiter
