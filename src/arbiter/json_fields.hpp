// Reading typed fields of a JSON object (the embedded arbiter's wire messages and its
// flag files), shared by the embedded server and the flag store.
#pragma once

#include <cstdint>
#include <string_view>

#include <boost/json.hpp>

namespace ftproxy::arbiter::detail {

// The field `key` as a non-negative integer; false when it is missing or not one.
inline bool json_u64(const boost::json::object& o, std::string_view key, std::uint64_t& out) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr) return false;
  if (v->is_uint64()) {
    out = v->get_uint64();
    return true;
  }
  if (v->is_int64() && v->get_int64() >= 0) {
    out = static_cast<std::uint64_t>(v->get_int64());
    return true;
  }
  return false;
}

// The field `key` as a string, or nullptr when it is missing or not a string.
inline const boost::json::string* json_str(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v == nullptr ? nullptr : v->if_string();
}

// The same as a view; empty when missing or not a string.
inline std::string_view json_sv(const boost::json::object& o, std::string_view key) {
  const boost::json::string* s = json_str(o, key);
  return s == nullptr ? std::string_view{} : std::string_view(s->data(), s->size());
}

}  // namespace ftproxy::arbiter::detail
