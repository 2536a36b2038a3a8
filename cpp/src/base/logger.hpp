// Log sink of one proxy: a level filter in front of either a user callback
// or standard error (never standard output, which may carry the protocol).
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace mcpfwd {

enum class log_level : std::uint8_t { trace, debug, info, warn, error, off };

const char* to_string(log_level l) noexcept;
bool parse_log_level(std::string_view s, log_level& out) noexcept;

class logger {
 public:
  // source is "mcpfwd" for our own lines, "server" for an upstream's stderr.
  using sink_fn = std::function<void(log_level, const char* source, std::string_view text)>;

  logger(log_level min, sink_fn sink) : min_(min), sink_(std::move(sink)) {}

  bool enabled(log_level l) const noexcept { return l >= min_ && min_ != log_level::off; }
  void log(log_level l, std::string_view text) const { emit(l, "mcpfwd", text); }
  void server_line(std::string_view text) const { emit(log_level::info, "server", text); }

  void trace(std::string_view t) const { log(log_level::trace, t); }
  void debug(std::string_view t) const { log(log_level::debug, t); }
  void info(std::string_view t) const { log(log_level::info, t); }
  void warn(std::string_view t) const { log(log_level::warn, t); }
  void error(std::string_view t) const { log(log_level::error, t); }

 private:
  void emit(log_level l, const char* source, std::string_view text) const;

  log_level min_;
  sink_fn sink_;  // empty: standard error
};

}  // namespace mcpfwd
