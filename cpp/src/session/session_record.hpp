// What every session has, whatever its kind (stdio, Streamable HTTP, legacy
// HTTP+SSE): its identity, its state machine, its counters, the client's
// initialize until it is answered, and its one snapshot schema. A session
// kind holds one session_record and does its own I/O around it.
//
// Snapshot schema (mcpfwd_proxy_session_json, mcpfwd_proxy_sessions_json and,
// in stdio mode, mcpfwd_proxy_stats_json; docs/c-api.md):
//   id                 the session id ("stdio" in stdio mode)
//   kind               "stdio" | "streamable_http" | "legacy_sse"
//   server             the named server (config file) it belongs to, null for
//                      the default upstream
//   state              "starting" | "ready" | "draining" | "closed"
//   protocol_version   negotiated by initialize, "" until then
//   created_ms, last_activity_ms   wall clock, ms since the Unix epoch
//   upstream           the upstream's own description ({"kind": "stdio", "pid": ...} ...)
//   upstream_pid       the server's pid, null for a remote upstream
//   client_to_server, server_to_client   {"messages": n, "bytes": n}
//   in_flight          requests forwarded and not answered yet
//   open_streams       event streams open to the client
//   errors             the sum of error_counts
//   error_counts       {"parse", "invalid", "oversize", "server_invalid",
//                       "server_oversize", "timeouts"}
//   dropped            server messages lost to a client that fell behind
//   proxy_replies      error responses mcpfwd wrote itself
//   upstream_exit      how the upstream ended, null until the session is closed
//   exit_code          stdio mode: the exit code the proxy reports, null until known
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/hooks.hpp"
#include "base/net.hpp"
#include "config/config.hpp"
#include "protocol/message.hpp"

namespace mcpfwd {

enum class session_state : std::uint8_t { starting, ready, draining, closed };
const char* to_string(session_state s) noexcept;

// stateless: an upstream instance serving the stateless era's requests of
// one isolation key (--stateless-key), shared by every client of that key.
enum class session_kind : std::uint8_t { stdio, streamable_http, legacy_sse, stateless };
const char* to_string(session_kind k) noexcept;

// Counters, written on the session's strand, read from any thread.
struct session_counters {
  using counter = std::atomic<std::uint64_t>;
  counter c2s_messages{0}, c2s_bytes{0}, s2c_messages{0}, s2c_bytes{0};
  counter parse{0}, invalid{0}, oversize{0}, server_invalid{0}, server_oversize{0}, timeouts{0};
  counter dropped{0}, proxy_replies{0};
  std::atomic<std::uint32_t> in_flight{0}, open_streams{0};

  static void add(counter& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
  // One message forwarded (or, for a batch reply, gathered) each way.
  void client_to_server(std::size_t bytes) noexcept {
    add(c2s_messages);
    add(c2s_bytes, bytes);
  }
  void server_to_client(std::size_t bytes) noexcept {
    add(s2c_messages);
    add(s2c_bytes, bytes);
  }
  std::uint64_t errors() const noexcept;
};

// Why a session ends when the message hook returns false.
inline constexpr const char* hook_abort_reason = "session aborted by the message callback";
// How long a session waits, once its upstream has ended, for what the
// upstream sent before (upstream::wait_end).
inline constexpr std::chrono::seconds upstream_drain{1};

class session_record {
 public:
  session_record(std::string id, session_kind kind, const proxy_config& cfg);

  const std::string& id() const noexcept { return id_; }
  session_kind kind() const noexcept { return kind_; }
  session_state state() const noexcept { return state_.load(); }
  void set_state(session_state s) noexcept { state_.store(s); }
  session_counters& counters() noexcept { return counters_; }
  const session_counters& counters() const noexcept { return counters_; }

  void touch() noexcept;
  // No request in flight, no stream open, no activity for `d`.
  bool idle_for(std::chrono::steady_clock::duration d) const noexcept;

  // The message hook of the embedding application: false aborts the session.
  bool hook(direction dir, std::string_view raw) const;

  // The client's initialize request, until the server answers it.
  void client_request(const message_info& mi) {
    if (mi.kind == message_kind::request && mi.method == "initialize") init_id_ = mi.id;
  }
  // A server answer (not a batch): when it answers the initialize, the
  // negotiated version is kept and the session_ready event raised.
  void server_answer(const message_info& mi, std::string_view raw);
  const std::string& protocol_version() const noexcept { return protocol_version_; }
  // A stateless instance: the protocol version its era probe settled on.
  void set_protocol_version(std::string v);
  // A stateless instance: its isolation key as shown ("shared", "x-tenant: a",
  // "authorization sha256:..."). Set before the session is shared.
  void set_key_label(std::string label) { key_label_ = std::move(label); }
  // A named server's session (config file): the server's name; set before
  // the session is shared.
  void set_server(std::string name) { server_ = std::move(name); }
  const std::string& server() const noexcept { return server_; }

  // Set once, before state closed: how the upstream ended, and (stdio mode)
  // the exit code the proxy reports.
  void ended(std::string upstream_exit, int exit_code = -1);

  // The one snapshot schema (above). `upstream` is upstream::describe().
  std::string snapshot_json(json::object upstream) const;

 private:
  std::string id_;
  session_kind kind_;
  const proxy_config& cfg_;
  std::atomic<session_state> state_{session_state::starting};
  session_counters counters_;
  std::string init_id_;
  std::string protocol_version_;            // written once, before version_known_
  std::atomic<bool> version_known_{false};  // ... so other threads may read it
  const std::chrono::system_clock::time_point created_;
  std::atomic<std::int64_t> last_activity_ns_;  // steady clock, for idleness
  std::atomic<std::int64_t> last_activity_ms_;  // wall clock, for display
  std::string key_label_;
  std::string server_;         // "" : the default upstream
  std::string upstream_exit_;  // written before state_ = closed
  std::atomic<int> exit_code_{-1};
};

}  // namespace mcpfwd
