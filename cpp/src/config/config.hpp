// The configuration of one proxy. Every field a user can set is an option
// of the options table (config/options.hpp): its name, type, bounds, modes
// and help live there, its default here (the table shows this initializer).
// The core reads this struct directly: there is no second copy per layer.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/hooks.hpp"
#include "base/logger.hpp"
#include "io/child_process.hpp"
#include "io/http_client.hpp"

namespace mcpfwd {

// Which era the upstream serves (--upstream-era): auto probes it.
enum class upstream_era : std::uint8_t { auto_detect, legacy, modern };
const char* to_string(upstream_era e) noexcept;

struct proxy_config {
  // --- what is proxied -------------------------------------------------
  spawn_options upstream;             // the server command (or:)
  remote_options remote;              // a remote server, when remote.url is set
  int stdio_in = -1, stdio_out = -1;  // downstream stdio descriptors (borrowed)
  std::string listen_host;            // Streamable HTTP mode when not empty
  std::uint16_t listen_port = 0;
  // A configuration file (--config): options, the default upstream and named
  // servers (config/config_file.hpp); the proxy reads it at start and on reload.
  std::string config_file;

  // --- every mode --------------------------------------------------------
  std::size_t max_message_bytes = 4u << 20;
  std::size_t max_batch = 100;  // elements of one JSON-RPC batch (2025-03-26)
  std::chrono::milliseconds shutdown_grace{2000};
  log_level level = log_level::info;
  log_format log_output = log_format::text;  // standard error: text or JSON lines

  // --- HTTP mode: sessions -------------------------------------------------
  std::size_t max_sessions = 1000;
  std::chrono::milliseconds idle_timeout{30 * 60 * 1000};
  // A request whose server says nothing about it (no answer, no progress)
  // for this long is answered with an error and cancelled upstream. 0: never.
  std::chrono::milliseconds request_timeout{10 * 60 * 1000};
  std::chrono::milliseconds drain_timeout{5000};
  // Server messages queued for one stream (a POST's answer stream, the GET
  // stream, the buffer kept while no stream is open, the replay buffer).
  std::size_t stream_buffer_bytes = 1u << 20;
  unsigned io_threads = 0;  // 0: the number of cores

  // --- HTTP mode: the listener -----------------------------------------------
  std::vector<std::string> allowed_origins;            // empty: localhost origins only
  std::vector<std::string> allowed_hosts;              // besides loopback names on a loopback bind
  std::string auth_token;                              // empty: no token required
  std::size_t max_connections = 0;                     // 0: half the descriptor limit
  std::chrono::milliseconds header_timeout{10000};     // first byte to end of the head
  std::chrono::milliseconds body_timeout{30000};       // end of the head to end of the body
  std::chrono::milliseconds keepalive_timeout{60000};  // idle between requests

  // --- HTTP mode: the admin listener (/metrics, /healthz, /readyz, /sessions)
  std::string admin_host;  // none when empty
  std::uint16_t admin_port = 0;
  std::string admin_token;  // empty: no token required

  // --- HTTP mode: several instances behind a load balancer (docs/scale-out.md)
  // Session ids issued here are "NODE_ID." + 32 hex digits (just the hex
  // digits when empty), so a balancer routes a session by its id alone.
  std::string node_id;

  // --- HTTP mode: the stateless era (2026-07-28) ------------------------------
  // What isolates modern requests: "shared" (one upstream instance for all),
  // "header:NAME" (one per value of header NAME), "authorization" (one per
  // Authorization value, shown hashed).
  std::string stateless_key = "shared";
  upstream_era era = upstream_era::auto_detect;

  // --- not options: callbacks of the embedding application ------------------
  logger::sink_fn log_sink;  // empty: standard error
  event_fn on_event;         // session events; may be empty
  message_fn on_message;     // every forwarded message; may be empty

  // Which options were set explicitly (bit i: options()[i]), for the rule
  // that an option of another mode is an error rather than ignored.
  std::uint64_t explicitly_set = 0;
};

}  // namespace mcpfwd
