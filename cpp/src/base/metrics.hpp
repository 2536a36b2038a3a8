// The proxy's counters for /metrics (docs/operations.md lists them): plain
// relaxed atomics and fixed histogram buckets, written on the I/O threads and
// read by whoever renders them. Every label takes its values from a bounded
// set (the enums and the method list below): no session id, no tool name, no
// argument ever becomes a label.
//
// Per-session figures (messages, bytes, drops) stay in each session's own
// counters on the hot path; a session's figures are added here once, when it
// ends (retire()), and a scrape adds those of the live sessions.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mcpfwd {

// Why a session ended (the `reason` label of mcpfwd_sessions_closed_total).
enum class close_cause : std::uint8_t {
  client_delete,      // the client sent DELETE
  client_disconnect,  // a legacy SSE client closed its stream
  idle,               // reaped after --idle-timeout-ms
  operator_kill,      // closed through the C ABI or the admin listener
  shutdown,           // the proxy shut down
  upstream_ended,     // the upstream exited or its remote session ended
  callback,           // the embedding application's callback aborted it
  era_mismatch,       // a stateless-era instance whose upstream serves the session era only
  duplicate,          // a second instance for one isolation key, closed at once
  internal,           // an internal error
  count_,
};
const char* to_string(close_cause c) noexcept;

// How a client's request ended (the `outcome` label of mcpfwd_requests_total).
enum class request_outcome : std::uint8_t {
  ok,         // the server answered with a result
  error,      // the server answered with a JSON-RPC error
  timeout,    // mcpfwd answered it after --request-timeout-ms
  abandoned,  // the client went away before the answer
  closed,     // the session ended first (mcpfwd answered with an error)
  count_,
};
const char* to_string(request_outcome o) noexcept;

// How an upstream ended (the `status` label of mcpfwd_upstream_exits_total).
enum class exit_class : std::uint8_t {
  exit_zero,     // a server process exited with status 0
  exit_nonzero,  // ... with another status
  signal,        // ... was killed by a signal
  remote,        // a remote upstream's session ended (no process)
  count_,
};
const char* to_string(exit_class c) noexcept;
// From a wait status (-1: not a process).
exit_class classify_exit(int raw_status) noexcept;

// The `method` label: the requests of MCP clients, every revision; any other
// method is "other" (the last entry).
std::span<const std::string_view> metric_methods() noexcept;
std::size_t method_index(std::string_view method) noexcept;
inline constexpr std::size_t method_count = 20;

// Session kinds (session_kind's values) and states (session_state's).
inline constexpr std::size_t kind_count = 4;
inline constexpr std::size_t state_count = 4;

using metric_counter = std::atomic<std::uint64_t>;
inline void bump(metric_counter& c, std::uint64_t n = 1) noexcept {
  c.fetch_add(n, std::memory_order_relaxed);
}
inline std::uint64_t read(const metric_counter& c) noexcept {
  return c.load(std::memory_order_relaxed);
}

// A latency histogram with fixed buckets (upper bounds in seconds); counts
// per bucket (not cumulative: the renderer sums them), the sum in
// microseconds.
struct latency_histogram {
  static constexpr std::array<double, 15> bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                    2.5,   5,    10,    30,   60,  120,  300};
  std::array<metric_counter, bounds.size() + 1> buckets{};  // the last one: +Inf
  metric_counter sum_us{0};
  void observe(std::chrono::steady_clock::duration d) noexcept;
};

struct proxy_metrics {
  std::array<metric_counter, kind_count> sessions_opened{};
  std::array<metric_counter, static_cast<std::size_t>(close_cause::count_)> sessions_closed{};
  metric_counter sessions_reaped{0};  // idle sessions closed by the reaper

  std::array<std::array<metric_counter, static_cast<std::size_t>(request_outcome::count_)>,
             method_count>
      requests{};
  std::array<latency_histogram, method_count> latency{};

  metric_counter upstream_spawns{0}, upstream_spawn_failures{0};
  std::array<metric_counter, static_cast<std::size_t>(exit_class::count_)> upstream_exits{};

  // Config file reloads (SIGHUP, mcpfwd_proxy_reload) that took effect, and
  // that failed (the old configuration stays).
  metric_counter config_reloads_ok{0}, config_reloads_failed{0};

  // The figures of sessions that have ended.
  metric_counter retired_c2s_messages{0}, retired_c2s_bytes{0}, retired_s2c_messages{0},
      retired_s2c_bytes{0}, retired_dropped{0};

  // One client request has ended: counted by method and outcome, its
  // duration (from when it was forwarded) observed.
  void request_done(std::size_t method, request_outcome o,
                    std::chrono::steady_clock::duration took) noexcept {
    bump(requests[method][static_cast<std::size_t>(o)]);
    latency[method].observe(took);
  }
  void closed(close_cause c) noexcept { bump(sessions_closed[static_cast<std::size_t>(c)]); }
};

}  // namespace mcpfwd
