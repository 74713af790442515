#include "ftproxy/control/stat_table.hpp"

#include <algorithm>

#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

namespace ftproxy::control {

namespace {

// The object at the dotted `path` under `root`, created (empty) where missing.
boost::json::object& object_at(boost::json::object& root, std::string_view path) {
  boost::json::object* o = &root;
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    boost::json::value& v = (*o)[path.substr(0, dot)];
    o = v.is_object() ? &v.as_object() : &v.emplace_object();
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  }
  return *o;
}

bool is_zero(const StatTable::Value& v) {
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return *u == 0;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i == 0;
  if (const auto* d = std::get_if<double>(&v)) return *d == 0.0;
  return false;
}

boost::json::value to_json(const StatTable::Value& v) {
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return *u;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  if (const auto* s = std::get_if<std::string>(&v)) return boost::json::string(*s);
  return nullptr;  // a histogram has no /status form
}

}  // namespace

StatTable::Row& StatTable::Row::set_metric(MetricType type, std::string_view name, std::string_view help,
                                           MetricLabel label) {
  type_ = type;
  metric_ = name;
  help_ = help;
  label_name_ = label.name;
  label_value_ = label.value;
  return *this;
}

void StatTable::section(std::string_view path) {
  const auto it = std::find(sections_.begin(), sections_.end(), path);
  current_ = static_cast<std::size_t>(it - sections_.begin());
  if (it == sections_.end()) sections_.emplace_back(path);
  Row& r = push(Value(std::in_place_type<bool>, false));
  r.marker_ = true;
}

StatTable::Row& StatTable::push(Value v) {
  Row& r = rows_.emplace_back();
  r.section_ = current_;
  r.value_ = std::move(v);
  return r;
}

void StatTable::histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                          std::span<const std::uint64_t> counts, double sum) {
  Histogram h{{bounds.begin(), bounds.end()}, {counts.begin(), counts.end()}, sum};
  push(Value(std::in_place_type<Histogram>, std::move(h))).set_metric(MetricType::histogram, name, help, {});
}

boost::json::object StatTable::json() const {
  boost::json::object root;
  for (const Row& r : rows_) {
    if (!r.marker_ && !r.has_key()) continue;
    boost::json::object& o = object_at(root, sections_[r.section_]);
    if (r.marker_ || (r.omit_zero_ && is_zero(r.value_))) continue;
    o[r.key_] = to_json(r.value_);
  }
  return root;
}

void StatTable::write(MetricsWriter& w) const {
  auto sample = [&w](const Row& r) {
    if (const auto* h = std::get_if<Histogram>(&r.value_)) {
      w.histogram(r.metric_, r.help_, h->bounds, h->counts, h->sum);
      return;
    }
    if (std::holds_alternative<std::string>(r.value_)) return;  // /status only
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_arithmetic_v<V>) {
            // A bool is 1/0, as an int (the text is the same either way).
            const auto value = [&] {
              if constexpr (std::is_same_v<V, bool>) {
                return v ? 1 : 0;
              } else {
                return v;
              }
            }();
            const bool gauge = r.type_ == MetricType::gauge;
            if (r.label_name_.empty()) {
              gauge ? w.gauge(r.metric_, r.help_, value) : w.counter(r.metric_, r.help_, value);
            } else {
              const MetricLabel l{r.label_name_, r.label_value_};
              gauge ? w.gauge(r.metric_, r.help_, value, {l}) : w.counter(r.metric_, r.help_, value, {l});
            }
          }
        },
        r.value_);
  };
  // The format wants the samples of one name together: at the first row of a name, all
  // rows of that name, in table order.
  std::vector<bool> done(rows_.size(), false);
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    if (done[i] || !rows_[i].has_metric()) continue;
    for (std::size_t j = i; j < rows_.size(); ++j) {
      if (done[j] || !rows_[j].has_metric() || rows_[j].metric_ != rows_[i].metric_) continue;
      done[j] = true;
      sample(rows_[j]);
    }
  }
}

}  // namespace ftproxy::control
