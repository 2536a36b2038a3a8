// The HTTP listener and the session registry. The listener accepts
// connections (up to --max-connections), reads each request's head within
// the header deadline, lets the router decide, answers refusals before any
// body is read, reads the body within the body deadline, and hands the
// request to its session. The registry admits sessions up to
// --max-sessions, finds them by id (on their own transport), reaps idle
// ones, and gives snapshots.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/hooks.hpp"
#include "config/config.hpp"
#include "server/router.hpp"
#include "session/http_session.hpp"

namespace mcpfwd {

class http_server : public std::enable_shared_from_this<http_server> {
 public:
  // Binds and listens at once (throws api_error(errc::io) on failure).
  // `cfg` and `log` outlive the server.
  http_server(net::io_context& ioc, const proxy_config& cfg, upstream_factory make_upstream,
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
  // Listener figures: connections open, refused, the limit; refusals by reason.
  json::object stats() const;

 private:
  struct connection;  // one accepted connection (counted while it lives)
  net::awaitable<void> accept_loop();
  void refuse_connection(int fd);  // counts it and writes the 503
  net::awaitable<void> serve_connection(net::ip::tcp::socket sock);
  net::awaitable<bool> answer(connection& c, const http_request& req, const http_refusal& r);
  net::awaitable<bool> dispatch(connection& c, route r, http_request& req);
  net::awaitable<void> reap_loop();
  // Admit and start a new session, or the refusal to answer.
  std::variant<std::shared_ptr<http_session>, http_refusal> open_session(
      session_transport transport, std::string_view id_json);
  std::shared_ptr<http_session> find(const std::string& id) const;
  void on_session_event(const std::string& id, const std::string& reason, bool finished);
  void count(reject_reason r) noexcept;

  net::io_context& ioc_;
  const proxy_config& cfg_;
  upstream_factory make_upstream_;
  const logger& log_;
  net::ip::tcp::acceptor acceptor_;
  net::steady_timer reaper_;
  std::uint16_t bound_port_ = 0;
  std::size_t max_connections_ = 0;
  std::unique_ptr<router> router_;

  std::atomic<std::size_t> connections_{0};
  std::atomic<std::uint64_t> connections_total_{0}, connections_refused_{0};
  std::array<std::atomic<std::uint64_t>, 16> rejected_{};

  mutable std::mutex m_;
  std::unordered_map<std::string, std::shared_ptr<http_session>> sessions_;  // routable
  // Closing (no longer routable: their id answers 404) until their upstream
  // is reaped; still listed by inspection, in state "draining".
  std::unordered_map<std::string, std::shared_ptr<http_session>> closing_;
  std::size_t live_ = 0;      // admitted and not yet finished (includes draining)
  std::size_t starting_ = 0;  // admitted, upstream being spawned
  bool stopping_ = false;
  std::atomic<bool> stopping_flag_{false};  // stopping_, readable without the lock
  std::function<void()> on_done_;
};

}  // namespace mcpfwd
