#include "ftproxy/control/metrics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace ftproxy::control {

namespace {

bool is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool valid_metric_name(std::string_view n) {
  if (n.empty() || !(is_alpha_(n[0]) || n[0] == ':')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return is_alpha_(c) || is_digit(c) || c == ':'; });
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || !is_alpha_(n[0])) return false;
  // Names starting with "__" are reserved for Prometheus itself.
  if (n.size() >= 2 && n[0] == '_' && n[1] == '_') return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return is_alpha_(c) || is_digit(c); });
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

void MetricsWriter::header(std::string_view name, std::string_view help, Type type) {
  seen_.emplace_back(std::string(name), type);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  switch (type) {
    case Type::counter:
      out_ += " counter\n";
      break;
    case Type::gauge:
      out_ += " gauge\n";
      break;
    case Type::histogram:
      out_ += " histogram\n";
      break;
  }
}

void MetricsWriter::line(std::string_view name, std::string_view suffix,
                         std::initializer_list<MetricLabel> labels, Value value) {
  out_ += name;
  out_ += suffix;
  if (labels.size() != 0) {
    out_ += '{';
    bool first = true;
    for (const auto& l : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += l.name;
      out_ += "=\"";
      append_escaped(out_, l.value, true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  switch (value.kind) {
    case Value::Kind::u64:
      fmt::format_to(std::back_inserter(out_), "{}", value.u);
      break;
    case Value::Kind::i64:
      fmt::format_to(std::back_inserter(out_), "{}", value.i);
      break;
    case Value::Kind::f64:
      if (std::isnan(value.d)) {
        out_ += "NaN";
      } else if (std::isinf(value.d)) {
        out_ += value.d > 0 ? "+Inf" : "-Inf";
      } else {
        fmt::format_to(std::back_inserter(out_), "{}", value.d);
      }
      break;
  }
  out_ += '\n';
}

bool MetricsWriter::sample(Type type, std::string_view name, std::string_view help, Value value,
                           std::initializer_list<MetricLabel> labels) {
  if (!valid_metric_name(name)) return false;
  for (const auto& l : labels) {
    if (!valid_label_name(l.name)) return false;
  }
  const auto it = std::find_if(seen_.begin(), seen_.end(), [&](const auto& s) { return s.first == name; });
  if (it != seen_.end() && it->second != type) return false;
  if (it == seen_.end()) header(name, help, type);
  line(name, "", labels, value);
  return true;
}

bool MetricsWriter::histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                              std::span<const std::uint64_t> counts, double sum) {
  if (!valid_metric_name(name) || counts.size() != bounds.size() + 1) return false;
  if (std::find_if(seen_.begin(), seen_.end(), [&](const auto& s) { return s.first == name; }) !=
      seen_.end()) {
    return false;
  }
  if (!std::is_sorted(bounds.begin(), bounds.end())) return false;
  header(name, help, Type::histogram);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < bounds.size() ? fmt::format("{}", bounds[i]) : std::string("+Inf");
    line(name, "_bucket", {{"le", le}}, to_value(cumulative));
  }
  line(name, "_sum", {}, to_value(sum));
  line(name, "_count", {}, to_value(cumulative));
  return true;
}

}  // namespace ftproxy::control
