// Structured logging set-up on spdlog, shared by ftproxy and ftproxy-arbiter.
//
// Convention for messages: a short event text followed by key=value fields,
//   spdlog::info("state transition {}", fields({{"from", "backup"}, {"to", "live"}}));
// Text format (stderr):
//   2026-11-27T05:00:00.123Z info ftproxy[p1] state transition from=backup to=live
// JSON format: one object per line, fields lifted out of the message:
//   {"ts":"2026-11-27T05:00:00.123Z","level":"info","component":"ftproxy[p1]",
//    "msg":"state transition","from":"backup","to":"live"}
// Timestamps are UTC with millisecond precision. Nothing may be logged per packet.
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/common.h>
#include <spdlog/formatter.h>

#include "ftproxy/control/config.hpp"

namespace ftproxy::control {

// "trace" | "debug" | "info" | "warn" | "error" → spdlog level; nullopt otherwise.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);

// A formatter for `format` ("text" | "json"; anything else is treated as "text").
std::unique_ptr<spdlog::formatter> make_log_formatter(std::string_view format, std::string_view component);

// Replaces the default spdlog logger with one named `component` writing to `sink`
// (stderr when null), with the section's level and format. Call once at start-up,
// before other threads log.
void setup_logging(const LoggingSection& section, std::string_view component,
                   spdlog::sink_ptr sink = nullptr);

// Renders key=value fields separated by spaces; values that are empty or contain a
// space, '"', '=' or a control character are double-quoted with \" \\ \n escapes.
// Keys should be [a-z0-9_.]+ so that the JSON format can lift them out.
std::string fields(std::initializer_list<std::pair<std::string_view, std::string_view>> kv);

}  // namespace ftproxy::control
