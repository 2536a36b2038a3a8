#include "server/admin_server.hpp"

#include <boost/beast/core/string.hpp>

#include "base/errors.hpp"
#include "base/spawn.hpp"
#include "io/http_write.hpp"
#include "server/admin_page.hpp"
#include "server/metrics_text.hpp"

namespace mcpfwd {

namespace {

constexpr std::size_t max_admin_connections = 64;
constexpr std::size_t admin_header_limit = 16 * 1024;
constexpr std::size_t admin_body_limit = 64 * 1024;  // no path takes a body

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

admin_server::response reply(const admin_server::request& req, http::status st,
                             std::string_view type, std::string body) {
  admin_server::response res{st, req.version() ? req.version() : 11};
  res.set(http::field::server, "mcpfwd");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

admin_server::response text(const admin_server::request& req, http::status st, std::string body) {
  return reply(req, st, "text/plain; charset=utf-8", std::move(body) + "\n");
}

admin_server::response json_reply(const admin_server::request& req, http::status st,
                                  std::string body) {
  return reply(req, st, "application/json", std::move(body));
}

// An Origin naming this very listener, as its Host header does.
bool same_origin(const admin_server::request& req, std::string_view origin) {
  auto h = req.find(http::field::host);
  return h != req.end() && origin.starts_with("http://") && origin.substr(7) == h->value();
}

admin_server::response not_allowed(const admin_server::request& req, const char* allow) {
  auto res = text(req, http::status::method_not_allowed, "Method not allowed");
  res.set(http::field::allow, allow);
  return res;
}

}  // namespace

admin_server::admin_server(net::io_context& ioc, const proxy_config& cfg, const logger& log,
                           std::shared_ptr<http_server> sessions,
                           std::function<std::string()> metrics_text)
    : ioc_(ioc),
      cfg_(cfg),
      log_(log),
      sessions_(std::move(sessions)),
      metrics_text_(std::move(metrics_text)),
      acceptor_(net::make_strand(ioc)) {
  error_code ec;
  auto addr = net::ip::make_address(cfg_.admin_host, ec);
  if (ec)
    throw api_error(errc::invalid_arg, "cannot parse admin address '" + cfg_.admin_host + "'");
  net::ip::tcp::endpoint ep(addr, cfg_.admin_port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw api_error(errc::io, "cannot listen on " + cfg_.admin_host + ":" +
                                  std::to_string(cfg_.admin_port) + " (--admin): " + ec.message());
  bound_port_ = acceptor_.local_endpoint().port();
  checks_ = std::make_unique<router>(cfg_, bound_port_, addr.is_loopback());
}

std::string admin_server::url() const {
  std::string host = cfg_.admin_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(bound_port_);
}

void admin_server::start() {
  if (!acceptor_.local_endpoint().address().is_loopback() && cfg_.admin_token.empty())
    log_.warn(
        "the admin listener is on a non-loopback address without an admin token: whoever "
        "reaches it can list and close sessions");
  auto self = shared_from_this();
  net::co_spawn(
      acceptor_.get_executor(), [self] { return self->accept_loop(); },
      log_failure(log_, "the admin accept loop", [self] {
        error_code ignored;
        self->acceptor_.close(ignored);
      }));
}

void admin_server::close() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    error_code ignored;
    self->acceptor_.close(ignored);
  });
}

net::awaitable<void> admin_server::accept_loop() {
  net::steady_timer backoff(acceptor_.get_executor());
  for (;;) {
    auto [ec, sock] =
        co_await acceptor_.async_accept(net::make_strand(ioc_), net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      log_.warn("admin accept failed: " + ec.message() + "; retrying in 100 ms");
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    if (connections_.fetch_add(1) >= max_admin_connections) {
      connections_.fetch_sub(1);
      error_code ignored;
      sock.close(ignored);
      continue;
    }
    auto self = shared_from_this();
    auto ex = sock.get_executor();
    net::co_spawn(
        ex, [self, s = std::move(sock)]() mutable { return self->serve(std::move(s)); },
        log_failure(log_, "an admin connection"));
  }
}

net::awaitable<void> admin_server::serve(net::ip::tcp::socket sock) {
  struct counted {
    std::atomic<std::size_t>& n;
    ~counted() { n.fetch_sub(1); }
  } guard{connections_};
  beast::tcp_stream stream(std::move(sock));
  error_code nb;
  stream.socket().non_blocking(true, nb);  // writes are tried at once (io/http_write.hpp)
  beast::flat_buffer buf;
  for (bool first = true;; first = false) {
    http::request_parser<http::string_body> p;
    p.header_limit(admin_header_limit);
    p.body_limit(admin_body_limit);
    stream.expires_after(first ? cfg_.header_timeout : cfg_.keepalive_timeout);
    auto [ec, n] = co_await http::async_read(stream, buf, p, net::as_tuple(net::use_awaitable));
    (void)n;
    if (ec) break;
    const request& req = p.get();
    response res = handle(req);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    if (co_await write_message(stream, res) || !res.keep_alive()) break;
  }
  error_code ignored;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
}

admin_server::response admin_server::handle(const request& req) const {
  // The main listener's checks, in its order: Host, Origin, token.
  if (auto h = req.find(http::field::host); h != req.end()) {
    if (!checks_->host_allowed(h->value()))
      return text(req, http::status::misdirected_request,
                  "Misdirected Request: Host '" + std::string(h->value()) +
                      "' is not served here (see --allow-host)");
  } else if (req.version() >= 11) {
    return text(req, http::status::bad_request, "Bad Request: HTTP/1.1 requires a Host header");
  }
  // The page's own requests (its kill button's DELETE) carry its origin:
  // http:// and the Host just checked, allowed whatever --allow-origin says.
  if (auto o = req.find(http::field::origin);
      o != req.end() && !checks_->origin_allowed(o->value()) && !same_origin(req, o->value()))
    return text(req, http::status::forbidden, "Origin not allowed");

  std::string_view path = req.target();
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  const auto method = req.method();
  const bool get = method == http::verb::get;

  // The page holds no data (it asks for it with the token the user gives it).
  if (path == "/") {
    if (!get) return not_allowed(req, "GET");
    const admin_page& page = the_admin_page();
    auto res = reply(req, http::status::ok, "text/html; charset=utf-8", std::string(page.html));
    res.set("Content-Security-Policy", page.csp);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    return res;
  }
  // Probes carry no secret: orchestrators and load balancers call them.
  if (path == "/healthz") {
    if (!get) return not_allowed(req, "GET");
    return text(req, http::status::ok, "ok");
  }
  if (path == "/readyz") {
    if (!get) return not_allowed(req, "GET");
    switch (sessions_->ready()) {
      case http_server::readiness::ready: return text(req, http::status::ok, "ready");
      case http_server::readiness::draining:
        return text(req, http::status::service_unavailable, "not ready: draining");
      case http_server::readiness::full:
        return text(req, http::status::service_unavailable,
                    "not ready: at the session limit of " + std::to_string(cfg_.max_sessions) +
                        " (--max-sessions)");
    }
  }

  if (!cfg_.admin_token.empty()) {
    auto a = req.find(http::field::authorization);
    std::string_view v = a == req.end() ? std::string_view() : std::string_view(a->value());
    const bool bearer = v.size() > 7 && beast::iequals(v.substr(0, 7), "bearer ");
    std::string_view token = bearer ? v.substr(7) : std::string_view();
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    if (!bearer || !constant_time_equal(token, cfg_.admin_token)) {
      auto res = text(req, http::status::unauthorized, "Unauthorized");
      res.set(http::field::www_authenticate, "Bearer");
      return res;
    }
  }

  if (path == "/metrics") {
    if (!get) return not_allowed(req, "GET");
    return reply(req, http::status::ok, prom_text::content_type, metrics_text_());
  }
  if (path == "/sessions") {
    if (!get) return not_allowed(req, "GET");
    return json_reply(req, http::status::ok, sessions_->sessions_json());
  }
  if (path.starts_with("/sessions/") && path.size() > 10 &&
      path.find('/', 10) == std::string_view::npos) {
    const std::string id(path.substr(10));
    if (get) {
      std::string one = sessions_->session_json(id);
      if (one.empty()) return text(req, http::status::not_found, "no such session");
      return json_reply(req, http::status::ok, std::move(one));
    }
    if (method == http::verb::delete_) {
      if (!sessions_->close_session(id))
        return text(req, http::status::not_found, "no such session");
      log_.event(log_level::info, "session_killed",
                 "session " + id + ": closed through the admin listener");
      return text(req, http::status::ok, "closing");
    }
    return not_allowed(req, "GET, DELETE");
  }
  return text(req, http::status::not_found,
              "Not found: /, /metrics, /healthz, /readyz, /sessions, /sessions/ID");
}

}  // namespace mcpfwd
