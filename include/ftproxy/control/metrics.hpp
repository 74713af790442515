// Prometheus text exposition format (version 0.0.4) written into a caller's string.
// No global registry: whoever serves /metrics walks its own counters and writes them.
// Control-plane code (allocates). Not thread-safe; one writer per output string.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ftproxy::control {

struct MetricLabel {
  std::string_view name;   // [a-zA-Z_][a-zA-Z0-9_]*
  std::string_view value;  // any UTF-8; escaped on output
};

class MetricsWriter {
 public:
  // Appends to `out`, which must outlive the writer.
  explicit MetricsWriter(std::string& out) : out_(out) {}

  // One sample of a counter / gauge. The "# HELP" and "# TYPE" lines are written the
  // first time a name is seen; callers write all samples of one name consecutively
  // (the format requires it). Returns false and writes nothing when the metric or a
  // label name is invalid, or the name was already used with another type.
  template <typename T>
  requires std::is_arithmetic_v<T>
  bool counter(std::string_view name, std::string_view help, T value,
               std::initializer_list<MetricLabel> labels = {}) {
    return sample(Type::counter, name, help, to_value(value), labels);
  }
  template <typename T>
  requires std::is_arithmetic_v<T>
  bool gauge(std::string_view name, std::string_view help, T value,
             std::initializer_list<MetricLabel> labels = {}) {
    return sample(Type::gauge, name, help, to_value(value), labels);
  }

  // A histogram: `bounds` are the buckets' upper bounds (ascending, without +Inf) and
  // `counts` the per-bucket (not cumulative) observations, one more than `bounds` (the
  // last is the +Inf bucket); `sum` is the sum of all observations. Writes the
  // cumulative `_bucket{le=...}` series, `_sum` and `_count`. Returns false and writes
  // nothing when the name is invalid or already used, or the sizes do not match.
  bool histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum);

 private:
  enum class Type : std::uint8_t { counter, gauge, histogram };
  struct Value {
    enum class Kind : std::uint8_t { u64, i64, f64 } kind;
    std::uint64_t u;
    std::int64_t i;
    double d;
  };
  template <typename T>
  static Value to_value(T v) {
    if constexpr (std::is_floating_point_v<T>) {
      return {Value::Kind::f64, 0, 0, static_cast<double>(v)};
    } else if constexpr (std::is_signed_v<T>) {
      return {Value::Kind::i64, 0, static_cast<std::int64_t>(v), 0.0};
    } else {
      return {Value::Kind::u64, static_cast<std::uint64_t>(v), 0, 0.0};
    }
  }
  bool sample(Type type, std::string_view name, std::string_view help, Value value,
              std::initializer_list<MetricLabel> labels);
  void header(std::string_view name, std::string_view help, Type type);
  void line(std::string_view name, std::string_view suffix, std::initializer_list<MetricLabel> labels,
            Value value);

  std::string& out_;
  std::vector<std::pair<std::string, Type>> seen_;
};

}  // namespace ftproxy::control
