// The Streamable HTTP listener and the session registry: accepts
// connections, checks Origin / bearer token / path / method / headers before
// anything is allocated, admits new sessions up to max_sessions, routes the
// rest to their session by Mcp-Session-Id, and reaps idle sessions.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "session/hooks.hpp"
#include "session/http_session.hpp"

namespace mcpfwd {

struct http_server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t max_sessions = 1000;
  std::chrono::milliseconds idle_timeout{30 * 60 * 1000};
  std::chrono::milliseconds drain_timeout{5000};  // at shutdown, for requests in flight
  std::vector<std::string> allowed_origins;       // empty: localhost origins only
  std::string auth_token;                         // empty: no token required
  http_session_options session;
  event_fn on_event;  // may be empty
};

class http_server : public std::enable_shared_from_this<http_server> {
 public:
  // Binds and listens at once (throws api_error(errc::io) on failure).
  http_server(net::io_context& ioc, http_server_options opts, upstream_factory make_upstream,
              const logger& log);
  void start();
  // Stop accepting and close every session; `on_done` runs once all
  // sessions have finished (upstreams reaped). Any thread.
  void shutdown(std::function<void()> on_done);

  std::string url() const;
  std::string sessions_json() const;
  // Empty when there is no such session.
  std::string session_json(const std::string& id) const;
  bool close_session(const std::string& id);
  std::size_t session_count() const;

 private:
  net::awaitable<void> accept_loop();
  net::awaitable<void> serve_connection(net::ip::tcp::socket sock);
  net::awaitable<void> reap_loop();
  // Legacy HTTP+SSE: GET /sse opens a session, POST /messages?sessionId=
  // feeds it. True if the connection stays open.
  net::awaitable<bool> serve_legacy(beast::tcp_stream& stream, http_request& req, bool sse_endpoint,
                                    std::string_view query);
  // Admit and spawn a new session; on failure null, with the HTTP status and
  // the reason to answer.
  std::shared_ptr<http_session> open_session(http::status& fail_status, std::string& fail_text);
  std::shared_ptr<http_session> find(const std::string& id) const;
  void on_session_event(const std::string& id, const std::string& reason, bool finished);
  bool origin_allowed(std::string_view origin) const;

  net::io_context& ioc_;
  http_server_options opts_;
  upstream_factory make_upstream_;
  const logger& log_;
  net::ip::tcp::acceptor acceptor_;
  net::steady_timer reaper_;
  std::uint16_t bound_port_ = 0;

  mutable std::mutex m_;
  std::unordered_map<std::string, std::shared_ptr<http_session>> sessions_;  // routable
  // Closing (no longer routable: their id answers 404) until their upstream
  // is reaped; still listed by inspection, in state "draining".
  std::unordered_map<std::string, std::shared_ptr<http_session>> closing_;
  std::size_t live_ = 0;  // admitted and not yet finished
  std::size_t starting_ =
      0;  // admitted, upstream being spawned  // admitted and not yet finished (includes draining)
  bool stopping_ = false;
  std::atomic<bool> stopping_flag_{false};  // stopping_, readable without the lock
  std::function<void()> on_done_;
};

}  // namespace mcpfwd
