// One list of a process's observable values that feeds both GET /status (JSON) and
// GET /metrics (Prometheus text), so a counter is named once: a row carries a /status key,
// a metric, or both, with one value. Built per request by whoever serves the two
// endpoints; control-plane code (allocates). Not thread-safe.
//
//   StatTable t;
//   t.section("forward");
//   t.add("tx_refused", n).counter("ftproxy_tx_refused_total", "Frames a port did not accept.");
//   t.add("stalled_ticks", m);                        // /status only
//   t.metric(k).gauge("ftproxy_x", "Only in /metrics.");
//   boost::json::object status = t.json();
//   t.write(metrics_writer);
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <boost/json/object.hpp>

#include "ftproxy/control/metrics.hpp"

namespace ftproxy::control {

class StatTable {
 public:
  enum class MetricType : std::uint8_t { none, counter, gauge, histogram };

  struct Histogram {
    std::vector<double> bounds;         // ascending upper bounds, without +Inf
    std::vector<std::uint64_t> counts;  // per bucket (not cumulative), bounds.size() + 1
    double sum = 0.0;
  };
  // The value keeps its kind: integers stay integers in both outputs, a bool is
  // true/false in /status and 1/0 in /metrics, a string is /status only.
  using Value = std::variant<std::uint64_t, std::int64_t, double, bool, std::string, Histogram>;

  class Row {
   public:
    // Also exports the value as one sample of metric `name` (with at most one label).
    // Samples of one name may be added anywhere in the table: write() emits them
    // together, in table order, at the first row of that name.
    Row& counter(std::string_view name, std::string_view help, MetricLabel label = {}) {
      return set_metric(MetricType::counter, name, help, label);
    }
    Row& gauge(std::string_view name, std::string_view help, MetricLabel label = {}) {
      return set_metric(MetricType::gauge, name, help, label);
    }
    // The metric only while `on` (the /status key stays), for metrics that exist in one
    // role only while /status always shows the key.
    Row& metric_when(bool on) {
      metric_on_ = on;
      return *this;
    }
    // /status leaves the key out while the value is zero (the metric is always written).
    Row& omit_zero() {
      omit_zero_ = true;
      return *this;
    }

   private:
    friend class StatTable;
    Row& set_metric(MetricType type, std::string_view name, std::string_view help, MetricLabel label);
    bool has_key() const noexcept { return !key_.empty(); }
    bool has_metric() const noexcept { return type_ != MetricType::none && metric_on_; }

    std::size_t section_ = 0;  // index into StatTable::sections_
    bool marker_ = false;      // section(): creates the /status object, no value
    std::string key_;          // /status key; empty: no /status key
    Value value_;
    bool omit_zero_ = false;
    bool metric_on_ = true;
    MetricType type_ = MetricType::none;  // none: no metric
    std::string metric_;
    std::string help_;
    std::string label_name_;  // empty: no label
    std::string label_value_;
  };

  // Rows added from now on go into the /status object at the dotted `path` ("" = the top
  // level, "ports.ext", "log.auth.failures"), which /status has from here even when it
  // gets no key. A path may be entered again; its keys follow those it already has.
  void section(std::string_view path);

  // A /status key in the current section; .counter()/.gauge() on the result also make
  // it a metric. `value` is any arithmetic type or a string. The returned Row is for
  // chaining only: the next add(), metric(), histogram() or section() may move it.
  template <typename T>
  Row& add(std::string_view key, T&& value) {
    Row& r = push(to_value(std::forward<T>(value)));
    r.key_ = key;
    return r;
  }
  // A value in /metrics only: follow with .counter() or .gauge().
  template <typename T>
  requires std::is_arithmetic_v<std::remove_cvref_t<T>> Row& metric(T value) { return push(to_value(value)); }
  // A histogram in /metrics only (MetricsWriter::histogram for the arguments).
  void histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum);

  // /status: the sections (in the order first entered) with their keys (in table order).
  boost::json::object json() const;
  // /metrics: every row with a metric; samples of one name consecutively.
  void write(MetricsWriter& w) const;

 private:
  template <typename T>
  static Value to_value(T&& v) {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, bool>) {
      return Value(std::in_place_type<bool>, v);
    } else if constexpr (std::is_floating_point_v<U>) {
      return Value(std::in_place_type<double>, static_cast<double>(v));
    } else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) {
      return Value(std::in_place_type<std::int64_t>, static_cast<std::int64_t>(v));
    } else if constexpr (std::is_integral_v<U>) {
      return Value(std::in_place_type<std::uint64_t>, static_cast<std::uint64_t>(v));
    } else {
      static_assert(std::is_constructible_v<std::string, T>, "a StatTable value is arithmetic or a string");
      return Value(std::in_place_type<std::string>, std::forward<T>(v));
    }
  }
  Row& push(Value v);

  std::vector<std::string> sections_{std::string()};  // [0] is the top level
  std::size_t current_ = 0;
  std::vector<Row> rows_;
};

}  // namespace ftproxy::control
