#include "ftproxy/arbiter/flag_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <boost/json.hpp>

#include "ftproxy/arbiter/arbiter.hpp"
#include "json_fields.hpp"

namespace ftproxy::arbiter {

namespace fs = std::filesystem;

namespace {

using detail::json_str;
using detail::json_u64;

constexpr std::size_t kMaxFlagFileBytes = 4096;
constexpr const char* kLockName = "lock";

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// "<cluster>@<epoch>.flag" -> (cluster, epoch)
bool parse_flag_name(std::string_view name, std::string& cluster, std::uint64_t& epoch) {
  constexpr std::string_view ext = ".flag";
  if (name.size() <= ext.size() || name.substr(name.size() - ext.size()) != ext) return false;
  name.remove_suffix(ext.size());
  auto at = name.rfind('@');
  if (at == std::string_view::npos) return false;
  if (!valid_arbiter_name(name.substr(0, at)) || !parse_u64(name.substr(at + 1), epoch)) return false;
  cluster.assign(name.substr(0, at));
  return true;
}

// Reads and validates one flag file; returns an error text or "".
std::string read_flag_file(const fs::path& path, const std::string& cluster, std::uint64_t epoch,
                           Flag& flag) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open: " + errno_text(errno);
  std::string text(kMaxFlagFileBytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return "cannot read: " + errno_text(err);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got > kMaxFlagFileBytes) return "larger than 4096 bytes";
  text.resize(got);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return "not JSON (" + ec.message() + ")";
  const boost::json::object* o = v.if_object();
  if (o == nullptr) return "not a JSON object";
  const boost::json::string* c = json_str(*o, "cluster");
  const boost::json::string* owner = json_str(*o, "owner");
  std::uint64_t e = 0;
  std::uint64_t token = 0;
  if (c == nullptr || *c != cluster) return "\"cluster\" missing or not matching the file name";
  if (!json_u64(*o, "epoch", e) || e != epoch) return "\"epoch\" missing or not matching the file name";
  if (owner == nullptr || !valid_arbiter_name(*owner)) return "\"owner\" missing or invalid";
  if (!json_u64(*o, "token", token) || token == 0) return "\"token\" missing or not a positive integer";
  flag.owner.assign(owner->data(), owner->size());
  flag.token = token;
  flag.decided_unix_ns = 0;
  if (const boost::json::value* t = o->if_contains("decided_unix_ns"); t != nullptr && t->is_int64()) {
    flag.decided_unix_ns = t->get_int64();
  }
  return {};
}

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool fsync_dir(const std::string& dir, std::string& error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    error = "open " + dir + ": " + errno_text(errno);
    return false;
  }
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    error = "fsync " + dir + ": " + errno_text(err);
    return false;
  }
  return true;
}

}  // namespace

std::string FlagStore::file_name(const std::string& cluster, std::uint64_t epoch) {
  return cluster + "@" + std::to_string(epoch) + ".flag";
}

FlagStore::FlagStore(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}

FlagStore::~FlagStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::unique_ptr<FlagStore> FlagStore::open(const std::string& dir, OpenReport& report) {
  if (dir.empty()) {
    report.errors.push_back("data_dir is empty");
    return nullptr;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    report.errors.push_back("data_dir " + dir + ": cannot create: " + ec.message());
    return nullptr;
  }
  std::string lock_path = (fs::path(dir) / kLockName).string();
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    report.errors.push_back(lock_path + ": cannot open: " + errno_text(errno));
    return nullptr;
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(lock_fd);
    report.errors.push_back(lock_path + ": " +
                            (err == EWOULDBLOCK ? std::string("data_dir is in use by another arbiter")
                                                : "cannot lock: " + errno_text(err)));
    return nullptr;
  }
  std::unique_ptr<FlagStore> store(new FlagStore(dir, lock_fd));

  fs::directory_iterator it(dir, ec);
  if (ec) {
    report.errors.push_back("data_dir " + dir + ": cannot list: " + ec.message());
    return nullptr;
  }
  std::uint64_t max_token = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    std::string name = path.filename().string();
    if (name == kLockName) continue;
    std::string cluster;
    std::uint64_t epoch = 0;
    bool is_regular = it->is_regular_file(ec);
    if (name.size() > 4 && name.front() == '.' && name.ends_with(".tmp")) {
      std::error_code rm_ec;
      fs::remove(path, rm_ec);
      report.notes.push_back(path.string() + ": unfinished write from an earlier run (never answered)" +
                             (rm_ec ? ", cannot remove: " + rm_ec.message() : ", removed"));
      continue;
    }
    if (!parse_flag_name(name, cluster, epoch)) {
      report.notes.push_back(path.string() + ": not a flag file, ignored");
      continue;
    }
    if (!is_regular) {
      report.errors.push_back(path.string() + ": not a regular file");
      continue;
    }
    Flag flag;
    std::string err = read_flag_file(path, cluster, epoch, flag);
    if (!err.empty()) {
      report.errors.push_back(path.string() + ": corrupt flag file: " + err +
                              " (restore it from a backup, or remove it only if no proxy of that epoch"
                              " can still be live)");
      continue;
    }
    max_token = std::max(max_token, flag.token);
    store->flags_[cluster].emplace(epoch, std::move(flag));
    ++store->count_;
  }
  if (ec) report.errors.push_back("data_dir " + dir + ": cannot list: " + ec.message());
  if (!report.errors.empty()) return nullptr;
  store->next_token_ = max_token + 1;
  report.flags_loaded = store->count_;
  return store;
}

FlagStore::SetOutcome FlagStore::test_and_set(const std::string& cluster, std::uint64_t epoch,
                                              const std::string& candidate, std::int64_t wall_ns) {
  SetOutcome out;
  if (!valid_arbiter_name(cluster) || !valid_arbiter_name(candidate)) {
    out.message = "cluster and candidate must match [A-Za-z0-9_.-]{1,64}";
    return out;
  }
  if (const Flag* f = find(cluster, epoch)) {
    out.kind = f->owner == candidate ? SetOutcome::Kind::won : SetOutcome::Kind::lost;
    out.flag = *f;
    return out;
  }
  Flag flag{candidate, next_token_, wall_ns};
  if (!persist(cluster, epoch, flag, out.message)) return out;
  ++next_token_;
  ++count_;
  out.kind = SetOutcome::Kind::won;
  out.newly_set = true;
  out.flag = flag;
  flags_[cluster].emplace(epoch, std::move(flag));
  return out;
}

const Flag* FlagStore::find(const std::string& cluster, std::uint64_t epoch) const {
  auto c = flags_.find(cluster);
  if (c == flags_.end()) return nullptr;
  auto e = c->second.find(epoch);
  return e == c->second.end() ? nullptr : &e->second;
}

std::optional<std::uint64_t> FlagStore::latest(const std::string& cluster) const {
  auto c = flags_.find(cluster);
  if (c == flags_.end() || c->second.empty()) return std::nullopt;
  return c->second.rbegin()->first;
}

bool FlagStore::persist(const std::string& cluster, std::uint64_t epoch, const Flag& flag,
                        std::string& error) {
  boost::json::object o;
  o["cluster"] = cluster;
  o["epoch"] = epoch;
  o["owner"] = flag.owner;
  o["token"] = flag.token;
  o["decided_unix_ns"] = flag.decided_unix_ns;
  std::string text = boost::json::serialize(o) + "\n";

  std::string final_name = file_name(cluster, epoch);
  std::string final_path = (fs::path(dir_) / final_name).string();
  std::string tmp_path = (fs::path(dir_) / ("." + cluster + "@" + std::to_string(epoch) + ".tmp")).string();
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "open " + tmp_path + ": " + errno_text(errno);
    return false;
  }
  if (!write_all(fd, text) || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp_path.c_str());
    error = "write " + tmp_path + ": " + errno_text(err);
    return false;
  }
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp_path.c_str());
    error = "close " + tmp_path + ": " + errno_text(err);
    return false;
  }
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_path.c_str());
    error = "rename to " + final_path + ": " + errno_text(err);
    return false;
  }
  // Without the directory fsync the rename itself could be lost on power failure.
  if (!fsync_dir(dir_, error)) {
    // Not recorded and not answered: a later test_and_set for this epoch rewrites the
    // file, and only a write that completed this far is ever answered.
    return false;
  }
  return true;
}

}  // namespace ftproxy::arbiter
