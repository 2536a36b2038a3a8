// The router: what to do with one HTTP request, decided from the request
// alone, with no socket (as Beast's handle_request). The listener reads a
// request head, asks on_head(), and either answers the refusal or reads the
// body and asks on_body(); only then does anything get allocated or spawned.
// Everything a request is checked for lives here, in the order a request is
// checked: Host, Origin, token, path, method, draining, protocol version,
// size, session id; then the body.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "base/hooks.hpp"
#include "config/config.hpp"
#include "protocol/message.hpp"

namespace mcpfwd {

namespace http = boost::beast::http;

// The listener's limits on reading a request (http_server.cpp; the fuzz
// target tests/fuzz/fuzz_http_request.cpp reads requests with the same).
// A request head longer than this is refused with 431.
inline constexpr std::size_t http_header_limit = 16 * 1024;
// The per-connection read buffer: a request head, or one piece of a body
// with its chunk framing (chunk extensions included), must fit in it; the
// body itself goes to the body's own string, bounded by --max-message-bytes.
inline constexpr std::size_t http_read_buffer_max = 64 * 1024;
// The first read of a request, when nothing is buffered.
inline constexpr std::size_t http_first_read = 4096;

// Why a request was refused (the counters and logs name these).
enum class reject_reason : std::uint8_t {
  host,             // Host not allowed (DNS rebinding)
  origin,           // Origin not allowed
  token,            // bearer token missing or wrong
  path,             // not /mcp, /sse or /messages
  method,           // method not allowed on that path
  draining,         // the proxy is shutting down
  version,          // MCP-Protocol-Version not served
  too_large,        // body over --max-message-bytes
  no_session,       // a session id is required and missing
  unknown_session,  // no such session (on this transport)
  not_acceptable,   // GET without Accept: text/event-stream
  bad_message,      // the body is not a valid JSON-RPC message (or batch)
  batch_too_large,  // more than --max-batch messages
  session_limit,    // --max-sessions reached (decided by the registry)
  upstream_failed,  // the upstream could not be started (decided by the registry)
  refused_by_app,   // the event callback refused the session
};
// How many reasons there are: a new one goes last, and is named here.
inline constexpr std::size_t reject_reason_count =
    static_cast<std::size_t>(reject_reason::refused_by_app) + 1;
const char* to_string(reject_reason r) noexcept;

// A refusal: the complete answer.
struct http_refusal {
  http::status status = http::status::bad_request;
  reject_reason reason = reject_reason::path;
  std::string body;                                          // a JSON-RPC error
  std::vector<std::pair<std::string, std::string>> headers;  // Allow, Retry-After, ...
  bool close = false;                                        // close the connection afterwards
};

// Refusals decided outside the router, built in the same place.
http_refusal refuse_session_limit(std::size_t max_sessions, std::string_view id_json);
http_refusal refuse_upstream_failed(std::string_view what, std::string_view id_json);
http_refusal refuse_by_app();
http_refusal refuse_unknown_session();
http_refusal refuse_unknown_server(std::string_view name);  // 404: not in the config (any more)
http_refusal refuse_malformed_http(std::string_view what);  // bad HTTP framing: 400, close
http_refusal refuse_header_too_large();                     // 431, close

enum class route_kind : std::uint8_t {
  refuse,       // answer `refusal`
  mcp_post,     // POST /mcp: to `session_id`, or a new session (initialize)
  mcp_get,      // GET /mcp: the session's event stream
  mcp_delete,   // DELETE /mcp: end the session
  sse_open,     // GET /sse: a new legacy HTTP+SSE session
  sse_post,     // POST /messages?sessionId=: to a legacy session
  modern_post,  // POST /mcp of the stateless era (2026-07-28): to its key's instance
};

struct route {
  route_kind kind = route_kind::refuse;
  std::string session_id;   // for session-bound kinds; empty: a new session
  std::string server;       // /servers/NAME/...: a named server (config file); "": the default
  bool accept_sse = false;  // the client takes text/event-stream answers
  http_refusal refusal;
  // modern_post: the routing headers, checked against the body by on_body().
  std::optional<std::string> mcp_version, mcp_method, mcp_name;
  std::string duplicated_header;
};

// Whether a session id is routable, and on which transport.
using session_lookup = std::function<std::optional<session_transport>(std::string_view id)>;

class router {
 public:
  // `cfg` outlives the router; `bound_port` is the listener's port.
  router(const proxy_config& cfg, std::uint16_t bound_port, bool loopback_bind);

  // Phase 1: the head of a request, before any of its body is read.
  route on_head(const http::request_header<>& head, bool draining,
                const session_lookup& lookup) const;
  // Phase 2: a POST's body. On success `msg` is the classified message and
  // nothing is returned; otherwise the refusal.
  std::optional<http_refusal> on_body(const route& r, std::string body, message& msg) const;

  // The checks, exposed for tests.
  bool host_allowed(std::string_view host) const;
  bool origin_allowed(std::string_view origin) const;

 private:
  std::optional<http_refusal> on_modern_body(const route& r, std::string body, message& msg) const;

  const proxy_config& cfg_;
  std::uint16_t port_;
  bool loopback_;
  // A loopback bind: the Host a local client sends ("127.0.0.1:PORT"), which
  // host_allowed() accepts whatever --allow-host says; compared first.
  std::string own_host_;
};

}  // namespace mcpfwd
