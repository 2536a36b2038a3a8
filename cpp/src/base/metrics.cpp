#include "base/metrics.hpp"

#include <sys/wait.h>

#include <algorithm>

namespace mcpfwd {

namespace {

constexpr std::array<std::string_view, method_count> methods = {
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "other",
};

}  // namespace

const char* to_string(close_cause c) noexcept {
  switch (c) {
    case close_cause::client_delete: return "client_delete";
    case close_cause::client_disconnect: return "client_disconnect";
    case close_cause::idle: return "idle";
    case close_cause::operator_kill: return "operator";
    case close_cause::shutdown: return "shutdown";
    case close_cause::upstream_ended: return "upstream_ended";
    case close_cause::callback: return "callback";
    case close_cause::era_mismatch: return "era_mismatch";
    case close_cause::duplicate: return "duplicate";
    case close_cause::internal: return "internal";
    case close_cause::count_: break;
  }
  return "?";
}

const char* to_string(request_outcome o) noexcept {
  switch (o) {
    case request_outcome::ok: return "ok";
    case request_outcome::error: return "error";
    case request_outcome::timeout: return "timeout";
    case request_outcome::abandoned: return "abandoned";
    case request_outcome::closed: return "closed";
    case request_outcome::count_: break;
  }
  return "?";
}

const char* to_string(exit_class c) noexcept {
  switch (c) {
    case exit_class::exit_zero: return "exit_zero";
    case exit_class::exit_nonzero: return "exit_nonzero";
    case exit_class::signal: return "signal";
    case exit_class::remote: return "remote";
    case exit_class::count_: break;
  }
  return "?";
}

exit_class classify_exit(int raw_status) noexcept {
  if (raw_status < 0) return exit_class::remote;
  if (WIFSIGNALED(raw_status)) return exit_class::signal;
  return WIFEXITED(raw_status) && WEXITSTATUS(raw_status) == 0 ? exit_class::exit_zero
                                                               : exit_class::exit_nonzero;
}

std::span<const std::string_view> metric_methods() noexcept {
  return methods;
}

std::size_t method_index(std::string_view method) noexcept {
  const auto it = std::find(methods.begin(), methods.end() - 1, method);
  return static_cast<std::size_t>(it - methods.begin());  // end() - 1: "other"
}

void latency_histogram::observe(std::chrono::steady_clock::duration d) noexcept {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  const double s = static_cast<double>(us) / 1e6;
  const auto b = std::lower_bound(bounds.begin(), bounds.end(), s);  // first bound >= s
  bump(buckets[static_cast<std::size_t>(b - bounds.begin())]);
  bump(sum_us, us > 0 ? static_cast<std::uint64_t>(us) : 0);
}

}  // namespace mcpfwd
