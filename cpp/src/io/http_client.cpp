#include "io/http_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <boost/url/parse.hpp>

#include "base/errors.hpp"

namespace mcpfwd {

const char* to_string(upstream_transport t) noexcept {
  switch (t) {
    case upstream_transport::auto_detect: return "auto";
    case upstream_transport::streamable_http: return "streamable-http";
    case upstream_transport::sse: return "sse";
  }
  return "?";
}

origin origin_of(const boost::urls::url_view& u) {
  origin o;
  if (u.scheme_id() == boost::urls::scheme::https)
    o.tls = true;
  else if (u.scheme_id() != boost::urls::scheme::http)
    throw api_error(errc::invalid_arg,
                    "upstream URL must start with http:// or https://: " + std::string(u.buffer()));
  if (!u.has_authority() || u.host_address().empty())
    throw api_error(errc::invalid_arg, "upstream URL has no host: " + std::string(u.buffer()));
  if (u.has_userinfo())
    throw api_error(errc::invalid_arg,
                    "upstream URL must not carry credentials (use --upstream-header)");
  o.host = u.host_address();
  o.port = u.has_port() ? std::string(u.port()) : (o.tls ? "443" : "80");
  o.url_host = u.encoded_host();
  o.host_header = o.url_host;
  if (u.has_port()) o.host_header += ":" + o.port;
  return o;
}

http_conn::http_conn(net::any_io_executor ex, ssl::context* tls) {
  if (tls)
    secure_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *tls);
  else
    plain_ = std::make_unique<beast::tcp_stream>(ex);
}

bool http_conn::stale() noexcept {
  auto& s = tcp().socket();
  if (!s.is_open()) return true;
  char c;
  const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // the peer closed it
  // Bytes waiting on a plain connection answer nothing we sent; on TLS they
  // may be a session ticket, which is harmless.
  if (n > 0) return !tls();
  return errno != EAGAIN && errno != EWOULDBLOCK;
}

void http_conn::close() noexcept {
  error_code ignored;
  tcp().socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  tcp().socket().close(ignored);
}

// Idle for less than this, a pooled connection is reused without a check.
constexpr auto fresh_for = std::chrono::milliseconds(250);
// Idle for longer, it is closed when the pool is next used (servers close
// theirs after seconds; this bounds what a server that never does holds).
constexpr auto max_idle = std::chrono::seconds(60);

// One acquire() waiting for a connection. Woken by posting a cancel of its
// timer to the waiter's own executor (timers are not thread-safe).
struct http_client::waiter {
  explicit waiter(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
  bool request = false;
  bool woken = false;                // a slot or a connection is ours
  std::unique_ptr<http_conn> given;  // an idle connection handed over
};

http_client::http_client(net::any_io_executor ex, remote_options opts, const logger& log)
    : ex_(std::move(ex)), opts_(std::move(opts)), log_(log) {
  auto parsed = boost::urls::parse_uri(opts_.url);
  if (!parsed)
    throw api_error(errc::invalid_arg,
                    "cannot parse upstream URL '" + opts_.url + "': " + parsed.error().message());
  url_ = *parsed;
  (void)origin_of(url_);  // validates
  if (opts_.pool_max < 2)
    throw api_error(errc::invalid_arg,
                    "the upstream pool size must be at least 2 (one connection is always kept "
                    "for answers to the server's requests)");
  tls_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  error_code ec;
  for (const auto& [k, v] : opts_.headers) {
    const bool bad_name =
        k.empty() || k.find_first_of(" \t\r\n:") != std::string::npos ||
        std::any_of(k.begin(), k.end(), [](unsigned char ch) { return ch < 0x21 || ch > 0x7e; });
    if (bad_name || v.find_first_of("\r\n") != std::string::npos)
      throw api_error(errc::invalid_arg, "invalid upstream header '" + k + "'");
    for (const char* managed : {"host", "content-length", "transfer-encoding", "connection",
                                "mcp-session-id", "mcp-protocol-version", "last-event-id"})
      if (beast::iequals(k, managed))
        throw api_error(
            errc::invalid_arg,
            "upstream header '" + k + "' is set by mcpfwd itself and cannot be configured");
  }
  if (opts_.insecure) {
    tls_->set_verify_mode(ssl::verify_none);
  } else {
    tls_->set_verify_mode(ssl::verify_peer);
    if (!opts_.ca_file.empty())
      tls_->load_verify_file(opts_.ca_file, ec);
    else
      tls_->set_default_verify_paths(ec);
    if (ec)
      throw api_error(errc::invalid_arg,
                      "cannot load the upstream CA " +
                          (opts_.ca_file.empty() ? std::string("store") : "file " + opts_.ca_file) +
                          ": " + ec.message());
  }
}

http_client::~http_client() {
  shutdown();
}

net::awaitable<conn_result> http_client::open_connection(const origin& o) {
  conn_result r;
  auto c = std::make_unique<http_conn>(ex_, o.tls ? tls_.get() : nullptr);
  c->origin_key = o.key();
  const std::string where = o.url_host + ":" + o.port;
  net::ip::tcp::resolver resolver(ex_);
  auto [rec, results] =
      co_await resolver.async_resolve(o.host, o.port, net::as_tuple(net::use_awaitable));
  if (rec) {
    r.error = "cannot resolve upstream host " + o.host + ": " + rec.message();
    co_return r;
  }
  c->tcp().expires_after(opts_.connect_timeout);
  auto [cec, ep] = co_await c->tcp().async_connect(results, net::as_tuple(net::use_awaitable));
  (void)ep;
  if (cec) {
    r.error = cec == beast::error::timeout
                  ? "connecting to upstream " + where + " timed out after " +
                        std::to_string(opts_.connect_timeout.count()) + " ms"
                  : "cannot connect to upstream " + where + ": " + cec.message();
    co_return r;
  }
  error_code ignored;
  c->tcp().socket().set_option(net::ip::tcp::no_delay(true), ignored);
  if (c->secure_) {
    SSL* ssl = c->secure_->native_handle();
    error_code aec;
    const auto addr = net::ip::make_address(o.host, aec);
    const bool is_ip = !aec;
    // SNI carries names only, never addresses (RFC 6066 §3).
    if (!is_ip) SSL_set_tlsext_host_name(ssl, o.host.c_str());
    if (!opts_.insecure) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(param, o.host.c_str());
      else
        SSL_set1_host(ssl, o.host.c_str());
    }
    (void)addr;
    auto [hec] = co_await c->secure_->async_handshake(ssl::stream_base::client,
                                                      net::as_tuple(net::use_awaitable));
    if (hec) {
      std::string why = hec == beast::error::timeout ? "timed out" : hec.message();
      const long vr = SSL_get_verify_result(ssl);
      if (vr != X509_V_OK)
        why += std::string(": certificate: ") + X509_verify_cert_error_string(vr);
      r.error = "TLS handshake with upstream " + where + " failed: " + why;
      co_return r;
    }
  }
  c->tcp().expires_never();
  r.conn = std::move(c);
  co_return r;
}

net::awaitable<conn_result> http_client::connect(origin o) {
  {
    std::lock_guard lk(m_);
    if (shut_) co_return conn_result{nullptr, "the proxy is shutting down", false};
  }
  streams_.fetch_add(1, std::memory_order_relaxed);
  co_return co_await open_connection(o);
}

bool http_client::may_take(const pool& p, bool request) const noexcept {
  if (!request) return true;
  return p.busy_requests + 1 < opts_.pool_max;
}

void http_client::wake_locked(pool& p) {
  // Wake the first waiter that may proceed: hand it an idle connection, or
  // let it open one when there is room.
  for (auto it = p.waiting.begin(); it != p.waiting.end(); ++it) {
    auto& w = *it;
    if (!may_take(p, w->request)) continue;
    if (!p.idle.empty()) {
      w->given = std::move(p.idle.back());
      p.idle.pop_back();
    } else if (p.open < opts_.pool_max) {
      ++p.open;  // reserved for the waiter's new connection
    } else {
      return;
    }
    if (w->request) ++p.busy_requests;
    w->woken = true;
    auto ww = w;
    p.waiting.erase(it);
    net::post(ww->timer.get_executor(), [ww] { ww->timer.cancel(); });
    return;
  }
}

net::awaitable<conn_result> http_client::acquire(origin o, bool request) {
  const std::string key = o.key();
  const net::any_io_executor my_ex = co_await net::this_coro::executor;
  std::shared_ptr<waiter> w;
  std::unique_ptr<http_conn> conn;
  bool reserve = false;
  {
    std::lock_guard lk(m_);
    if (shut_) co_return conn_result{nullptr, "the proxy is shutting down", false};
    pool& p = pools_[key];
    // Drop idle connections the upstream has closed meanwhile, or idle too long.
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(p.idle, [&](std::unique_ptr<http_conn>& c) {
      // (A connection used moments ago is not checked: a server closes idle
      // ones after seconds, and the check is a system call.)
      const auto idle = now - c->idle_since;
      if (idle < max_idle && (idle < fresh_for || !c->stale())) return false;
      c->close();
      --p.open;
      ++p.stale;
      return true;
    });
    // FIFO among those that may proceed: a response or notification does
    // not queue behind requests that are held back by the reservation.
    const bool ahead = std::any_of(p.waiting.begin(), p.waiting.end(),
                                   [&](const auto& other) { return may_take(p, other->request); });
    if (may_take(p, request) && !ahead) {
      if (!p.idle.empty()) {
        conn = std::move(p.idle.back());
        p.idle.pop_back();
      } else if (p.open < opts_.pool_max) {
        ++p.open;
        reserve = true;
      }
    }
    if (conn || reserve) {
      if (request) ++p.busy_requests;
    } else {
      w = std::make_shared<waiter>(my_ex);
      w->request = request;
      p.waiting.push_back(w);
      ++p.waited;
    }
  }
  if (w) {
    w->timer.expires_after(opts_.timeout);
    co_await w->timer.async_wait(net::as_tuple(net::use_awaitable));
    std::lock_guard lk(m_);
    if (!w->woken) {
      pool& p = pools_[key];
      std::erase(p.waiting, w);
      co_return conn_result{nullptr,
                            "no upstream connection became free within " +
                                std::to_string(opts_.timeout.count()) + " ms (all " +
                                std::to_string(opts_.pool_max) + " pooled connections busy)",
                            false};
    }
    conn = std::move(w->given);
    reserve = !conn;
  }
  if (conn) {
    // It may have gone stale while idle: the caller's retry rule covers a
    // close that races with our request; this catches the ones already seen.
    if (std::chrono::steady_clock::now() - conn->idle_since >= fresh_for && conn->stale()) {
      conn->close();
      std::lock_guard lk(m_);
      ++pools_[key].stale;
      conn.reset();
      reserve = true;  // keep its slot for a fresh one
    } else {
      ++conn->uses;
      std::lock_guard lk(m_);
      ++pools_[key].reused;
      co_return conn_result{std::move(conn), {}, true};
    }
  }
  conn_result r = co_await open_connection(o);
  std::lock_guard lk(m_);
  pool& p = pools_[key];
  if (!r.conn) {
    --p.open;
    if (request) --p.busy_requests;
    wake_locked(p);
  } else {
    ++p.created;
    ++r.conn->uses;
  }
  co_return r;
}

void http_client::release(std::unique_ptr<http_conn> c, bool request, bool reusable) {
  if (!c) return;
  std::lock_guard lk(m_);
  pool& p = pools_[c->origin_key];
  if (request && p.busy_requests > 0) --p.busy_requests;
  if (reusable && !shut_) {
    c->idle_since = std::chrono::steady_clock::now();
    p.idle.push_back(std::move(c));
  } else {
    c->close();
    --p.open;
  }
  wake_locked(p);
}

json::object http_client::stats() const {
  json::object o;
  std::lock_guard lk(m_);
  for (const auto& [key, p] : pools_) {
    o[key] = {{"open", p.open},        {"idle", p.idle.size()}, {"waiting", p.waiting.size()},
              {"max", opts_.pool_max}, {"created", p.created},  {"reused", p.reused},
              {"waited", p.waited},    {"stale", p.stale}};
  }
  json::object r;
  r["pools"] = std::move(o);
  r["stream_connections"] = streams_.load(std::memory_order_relaxed);
  return r;
}

void http_client::shutdown() noexcept {
  std::lock_guard lk(m_);
  shut_ = true;
  for (auto& [key, p] : pools_) {
    for (auto& c : p.idle) {
      c->close();
      --p.open;
    }
    p.idle.clear();
  }
}

}  // namespace mcpfwd
