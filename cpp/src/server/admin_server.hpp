// The admin listener (--admin HOST:PORT): a second, small HTTP listener in
// the same proxy for operators and their tools (docs/operations.md):
//   GET    /               a page: the session table, a few plots (admin_page.html)
//   GET    /metrics        Prometheus text exposition format 0.0.4
//   GET    /healthz        200 while the process serves
//   GET    /readyz         200 when new sessions are taken; 503 while draining
//                          or at --max-sessions
//   GET    /sessions       the session list (as mcpfwd_proxy_sessions_json)
//   GET    /sessions/ID    one session; 404 for an unknown id
//   DELETE /sessions/ID    close that session; 404 for an unknown id
// Requests pass the main listener's Host and Origin checks (on this port);
// with --admin-token every path but /, /healthz and /readyz needs
// `Authorization: Bearer TOKEN`. Nothing here is on the forwarding path.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "base/logger.hpp"
#include "base/net.hpp"
#include "config/config.hpp"
#include "server/http_server.hpp"
#include "server/router.hpp"

namespace mcpfwd {

class admin_server : public std::enable_shared_from_this<admin_server> {
 public:
  using request = http::request<http::string_body>;
  using response = http::response<http::string_body>;

  // Binds and listens at once (throws api_error on failure). `cfg` and
  // `log` outlive the server; `metrics_text` renders /metrics.
  admin_server(net::io_context& ioc, const proxy_config& cfg, const logger& log,
               std::shared_ptr<http_server> sessions, std::function<std::string()> metrics_text);
  void start();
  // Stop accepting; connections end after their current request. Any thread.
  void close();
  std::string url() const;  // "http://127.0.0.1:9464"

  // The answer to one request (no I/O): exposed for tests.
  response handle(const request& req) const;

 private:
  net::awaitable<void> accept_loop();
  net::awaitable<void> serve(net::ip::tcp::socket sock);

  net::io_context& ioc_;
  const proxy_config& cfg_;
  const logger& log_;
  std::shared_ptr<http_server> sessions_;
  std::function<std::string()> metrics_text_;
  net::ip::tcp::acceptor acceptor_;
  std::uint16_t bound_port_ = 0;
  std::unique_ptr<router> checks_;  // Host and Origin, as on the main listener
  std::atomic<std::size_t> connections_{0};
};

}  // namespace mcpfwd
