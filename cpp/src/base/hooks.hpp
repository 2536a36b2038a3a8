// Session lifecycle events, delivered to the embedding application (the C
// ABI's event callback). Called on I/O threads, never under a lock of ours.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace mcpfwd {

enum class event_kind : int {
  session_opened = 1,    // a session exists and its upstream was spawned
  session_closed = 2,    // a session ended and its upstream was reaped; detail: the reason
  session_rejected = 3,  // an initialize was refused (session limit); detail: why
  session_ready = 4,     // the upstream answered initialize; detail: the protocol version
};

// Returns false to abort: on session_opened the session is closed at once.
using event_fn =
    std::function<bool(event_kind, const std::string& session_id, const std::string& detail)>;

}  // namespace mcpfwd

namespace mcpfwd {

// Which transport made an HTTP session: its id is routable only on that one.
// stateless: an upstream instance of the stateless era, found by its
// isolation key, never by an id a client sends.
enum class session_transport : std::uint8_t { streamable_http, legacy_sse, stateless };

enum class direction : int { client_to_server = 1, server_to_client = 2 };

// Sees each forwarded message (raw bytes, no newline) of a session. Returns
// false to abort that session. Runs on the session's strand: keep it short.
using message_fn =
    std::function<bool(direction, const std::string& session_id, std::string_view raw)>;

}  // namespace mcpfwd
