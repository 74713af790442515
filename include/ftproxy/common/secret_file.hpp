// Reading a secret (key, token, password) from a file at start-up, with the checks every
// secret file gets: a regular file, not accessible by group or others (mode 0600/0400 or
// stricter), at most `max_bytes` long. Control-plane code (allocates); the callers parse
// the contents (hex key, key lines, token) and prefix the error with the config key.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace ftproxy {

// The whole file, or nullopt with `error` set to a sentence naming the path and the
// problem ("cannot open ...: No such file or directory", "... has mode 0644: ...",
// "... is not a regular file", "... is larger than N bytes"). The read buffer is wiped.
std::optional<std::string> read_secret_file(const std::string& path, std::size_t max_bytes,
                                            std::string& error);

}  // namespace ftproxy
