#include "ftproxy/common/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace ftproxy {

std::optional<std::string> read_secret_file(const std::string& path, std::size_t max_bytes,
                                            std::string& error) {
  const std::string quoted = "\"" + path + "\"";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    error = "cannot open " + quoted + ": " + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  std::string text;
  bool ok = false;
  if (::fstat(fd, &st) != 0) {
    error = "cannot stat " + quoted + ": " + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = quoted + " is not a regular file";
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    error = quoted + " has mode " + mode +
            ": a secret file must not be accessible by group or others (chmod 600 or 400)";
  } else {
    ok = true;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = "cannot read " + quoted + ": " + std::strerror(errno);
        ok = false;
        break;
      }
      if (n == 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      if (text.size() > max_bytes) {
        error = quoted + " is larger than " + std::to_string(max_bytes) + " bytes";
        ok = false;
        break;
      }
    }
    ::explicit_bzero(buf, sizeof buf);
  }
  ::close(fd);
  if (!ok) {
    ::explicit_bzero(text.data(), text.size());
    return std::nullopt;
  }
  return text;
}

}  // namespace ftproxy
