#include "ftproxy/control/logging.hpp"

#include <ctime>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace ftproxy::control {

namespace {

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const char* level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

void append_utc_timestamp(spdlog::memory_buf_t& dest, spdlog::log_clock::time_point tp) {
  const auto since_epoch = tp.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs).count();
  const std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(dest), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

void append_json_string(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        dest.append(std::string_view("\\\""));
        break;
      case '\\':
        dest.append(std::string_view("\\\\"));
        break;
      case '\n':
        dest.append(std::string_view("\\n"));
        break;
      case '\r':
        dest.append(std::string_view("\\r"));
        break;
      case '\t':
        dest.append(std::string_view("\\t"));
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          fmt::format_to(std::back_inserter(dest), "\\u{:04x}", static_cast<unsigned>(u));
        } else {
          dest.push_back(c);
        }
    }
  }
  dest.push_back('"');
}

struct Field {
  std::string_view key;
  std::string value;
};

// Parses `s` as a complete sequence of key=value fields (the format fields() writes).
bool parse_fields(std::string_view s, std::vector<Field>& out) {
  out.clear();
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t key_start = i;
    while (i < s.size() && is_key_char(s[i])) ++i;
    if (i == key_start || i >= s.size() || s[i] != '=') return false;
    Field f{s.substr(key_start, i - key_start), {}};
    ++i;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        const char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c != '\\') {
          f.value += c;
          continue;
        }
        if (i >= s.size()) return false;
        const char e = s[i++];
        if (e == 'n') {
          f.value += '\n';
        } else if (e == 'r') {
          f.value += '\r';
        } else if (e == 't') {
          f.value += '\t';
        } else if (e == 'x') {
          if (i + 2 > s.size() || hex_value(s[i]) < 0 || hex_value(s[i + 1]) < 0) return false;
          f.value += static_cast<char>(hex_value(s[i]) * 16 + hex_value(s[i + 1]));
          i += 2;
        } else {
          f.value += e;
        }
      }
      if (!closed) return false;
    } else {
      while (i < s.size() && s[i] != ' ') f.value += s[i++];
    }
    out.push_back(std::move(f));
    if (i < s.size()) {
      if (s[i] != ' ') return false;
      while (i < s.size() && s[i] == ' ') ++i;
    }
  }
  return true;
}

// Splits "event text k=v k2=v2" into the event text and its trailing fields: the
// earliest word boundary from which the rest parses completely as fields.
std::string_view split_fields(std::string_view payload, std::vector<Field>& fields_out) {
  for (std::size_t j = 0; j < payload.size(); ++j) {
    if (j != 0 && payload[j - 1] != ' ') continue;
    if (!is_key_char(payload[j])) continue;
    if (parse_fields(payload.substr(j), fields_out)) {
      auto msg = payload.substr(0, j);
      while (!msg.empty() && msg.back() == ' ') msg.remove_suffix(1);
      return msg;
    }
  }
  fields_out.clear();
  return payload;
}

class TextFormatter final : public spdlog::formatter {
 public:
  explicit TextFormatter(std::string component) : component_(std::move(component)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    append_utc_timestamp(dest, msg.time);
    dest.push_back(' ');
    dest.append(std::string_view(level_name(msg.level)));
    dest.push_back(' ');
    dest.append(component_);
    dest.push_back(' ');
    // One record per line: embedded line breaks cannot forge extra records.
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      if (c == '\n') {
        dest.append(std::string_view("\\n"));
      } else if (c == '\r') {
        dest.append(std::string_view("\\r"));
      } else {
        dest.push_back(c);
      }
    }
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>(component_);
  }

 private:
  std::string component_;
};

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string component) : component_(std::move(component)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    dest.append(std::string_view("{\"ts\":\""));
    append_utc_timestamp(dest, msg.time);
    dest.append(std::string_view("\",\"level\":\""));
    dest.append(std::string_view(level_name(msg.level)));
    dest.append(std::string_view("\",\"component\":"));
    append_json_string(dest, component_);
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const std::string_view text = split_fields(payload, fields_);
    dest.append(std::string_view(",\"msg\":"));
    append_json_string(dest, text);
    for (const auto& f : fields_) {
      dest.push_back(',');
      // Fields never shadow the fixed members.
      if (f.key == "ts" || f.key == "level" || f.key == "component" || f.key == "msg") {
        append_json_string(dest, std::string(f.key) + "_");
      } else {
        append_json_string(dest, f.key);
      }
      dest.push_back(':');
      append_json_string(dest, f.value);
    }
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(component_);
  }

 private:
  std::string component_;
  std::vector<Field> fields_;  // reused between lines
};

}  // namespace

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  if (text == "trace") return spdlog::level::trace;
  if (text == "debug") return spdlog::level::debug;
  if (text == "info") return spdlog::level::info;
  if (text == "warn") return spdlog::level::warn;
  if (text == "error") return spdlog::level::err;
  return std::nullopt;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(std::string_view format, std::string_view component) {
  if (format == "json") return std::make_unique<JsonFormatter>(std::string(component));
  return std::make_unique<TextFormatter>(std::string(component));
}

void setup_logging(const LoggingSection& section, std::string_view component, spdlog::sink_ptr sink) {
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(component), std::move(sink));
  logger->set_formatter(make_log_formatter(section.format, component));
  logger->set_level(parse_log_level(section.level).value_or(spdlog::level::info));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

std::string fields(std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += ' ';
    out += k;
    out += '=';
    if (!needs_quotes(v)) {
      out += v;
      continue;
    }
    out += '"';
    for (char c : v) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (u < 0x20 || u == 0x7f) {
        out += fmt::format("\\x{:02x}", static_cast<unsigned>(u));
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out;
}

}  // namespace ftproxy::control
