// Human-readable views of the proxy's control-port JSON and the arbiter's answers, for
// ftproxyctl. Pure functions over strings: every missing or mistyped field is shown as
// "-" rather than failing, so a newer or older proxy still gets a readable table. Only
// text that is not a JSON object is an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ftproxy/arbiter/arbiter.hpp"

namespace ftproxy::ctl {

// How many of the newest role transitions `status` lists.
inline constexpr std::size_t kStatusTransitions = 5;

// GET /status body -> table. False + `error` if `json` is not a JSON object.
bool render_status(std::string_view json, std::string& out, std::string& error);
// GET /flows body ({"flows":[...]}) -> one line per flow. False + `error` if malformed.
bool render_flows(std::string_view json, std::string& out, std::string& error);

// Fields of a /status body that ftproxyctl acts on; nullopt when absent or not JSON.
std::optional<std::string> status_state(std::string_view json);
std::optional<std::string> status_cluster(std::string_view json);
std::optional<std::uint64_t> status_epoch(std::string_view json);

// `epoch show`: the decision for `epoch` and the latest decided epoch of `cluster`.
std::string render_epoch_show(const std::string& cluster, std::uint64_t epoch,
                              const arbiter::ArbiterRead& current, const arbiter::ArbiterRead& latest);
std::string epoch_show_json(const std::string& cluster, std::uint64_t epoch,
                            const arbiter::ArbiterRead& current, const arbiter::ArbiterRead& latest);

// `epoch new`: the next epoch and the re-protection steps.
std::string render_epoch_new(const std::string& cluster, std::uint64_t next,
                             const arbiter::ArbiterRead& latest, std::optional<std::uint64_t> configured);

}  // namespace ftproxy::ctl
