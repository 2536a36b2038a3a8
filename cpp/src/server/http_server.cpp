#include "server/http_server.hpp"

#include <openssl/evp.h>

#include "protocol/era.hpp"
#include "upstream/modern_forward.hpp"
#include "upstream/remote_era_probe.hpp"

#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/beast/core.hpp>

#include "base/errors.hpp"
#include "base/spawn.hpp"
#include "io/http_write.hpp"

namespace mcpfwd {

namespace {

// How long a probe's finding that the upstream serves only the session era
// is believed before a new instance probes again (--upstream-era auto).
constexpr auto legacy_verdict_ttl = std::chrono::seconds(30);

// 32 hex digits (128 random bits), after "NODE." with --node-id.
std::string new_session_id(const std::string& node) {
  unsigned char b[16];
  std::size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw api_error(errc::io, std::string("getrandom: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string id(32, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    id[2 * i] = hex[b[i] >> 4];
    id[2 * i + 1] = hex[b[i] & 15];
  }
  return node.empty() ? id : node + "." + id;
}

bool expects_continue(const http_request& req) {
  auto e = req.find(http::field::expect);
  return e != req.end() && beast::iequals(e->value(), "100-continue");
}

// Connections beyond --max-connections get this, written without waiting,
// and are closed at once.
const std::string& busy_reply() {
  static const std::string reply = [] {
    const std::string body =
        make_error_response({}, rpc_error::upstream_error,
                            "Too many connections: the proxy is at its limit (--max-connections)");
    return "HTTP/1.1 503 Service Unavailable\r\nServer: mcpfwd\r\nRetry-After: 1\r\n"
           "Content-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }();
  return reply;
}

}  // namespace

namespace {

// The deadline of a connection's idle read (keep-alive, or the first byte of
// its first request), kept by a lazy timer. Beast's tcp_stream arms a timer
// for each read and cancels it when the read completes, which posts a
// handler (a trip through the scheduler) per request. This timer is armed
// for a deadline and left alone by reads that complete; when it fires it
// looks at the connection's current deadline: armed again if that moved on,
// the read cancelled if it passed. Deadlines move later (a fixed time after
// each read starts), so it fires about once per timeout period.
struct idle_deadline : std::enable_shared_from_this<idle_deadline> {
  using clock = std::chrono::steady_clock;
  idle_deadline(const session_strand& strand, net::ip::tcp::socket& s) : timer(strand), sock(s) {}
  net::steady_timer timer;
  net::ip::tcp::socket& sock;
  clock::time_point deadline = clock::time_point::max();  // of the read in progress
  clock::time_point armed_at = clock::time_point::max();

  void start(clock::duration timeout) { arm(clock::now() + timeout); }
  void stop() noexcept { deadline = clock::time_point::max(); }
  void arm(clock::time_point at) {
    deadline = at;
    if (armed_at <= at) return;  // it fires no later, and looks again then
    armed_at = at;
    timer.expires_at(at);  // a pending wait ends (aborted) and is replaced
    timer.async_wait([weak = weak_from_this()](error_code ec) {
      const auto self = weak.lock();
      if (!self || ec) return;
      self->armed_at = clock::time_point::max();
      if (self->deadline == clock::time_point::max()) return;  // not reading: armed next time
      if (clock::now() < self->deadline) return self->arm(self->deadline);
      error_code ignored;
      self->sock.cancel(ignored);  // the read ends with operation_aborted
    });
  }
};

}  // namespace

// One accepted connection: its stream and read buffer, counted while it lives.
struct http_server::connection {
  http_server& srv;
  // Its coroutine's strand (the socket's executor), shared by the sessions
  // opened on it.
  session_strand strand;
  beast::tcp_stream stream;
  conn_buffer buf{http_read_buffer_max};
  std::size_t ctx;  // its io_context (http_server::contexts_)
  std::shared_ptr<idle_deadline> idle;
  connection(http_server& s, net::ip::tcp::socket sock, std::size_t c)
      : srv(s),
        strand(strand_of(sock, *s.contexts_[c])),
        stream(std::move(sock)),
        ctx(c),
        idle(std::make_shared<idle_deadline>(strand, stream.socket())) {
    // Writes are tried at once and go asynchronous only when the socket is
    // full (io/http_write.hpp): a synchronous write must not block.
    error_code ignored;
    stream.socket().non_blocking(true, ignored);
  }
  static session_strand strand_of(net::ip::tcp::socket& sock, net::io_context& ctx) {
    if (const auto* st = sock.get_executor().target<session_strand>()) return *st;
    return net::make_strand(ctx);
  }
  ~connection() {
    srv.context_load_[ctx].fetch_sub(1, std::memory_order_relaxed);
    srv.connections_.fetch_sub(1);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
};

http_server::http_server(net::io_context& ioc, const proxy_config& cfg,
                         upstream_factory make_upstream, std::shared_ptr<http_client> remote,
                         const logger& log, proxy_metrics& metrics,
                         std::vector<net::io_context*> contexts)
    : ioc_(ioc),
      contexts_(contexts.empty() ? std::vector<net::io_context*>{&ioc} : std::move(contexts)),
      context_load_(std::make_unique<std::atomic<std::size_t>[]>(contexts_.size())),
      cfg_(cfg),
      metrics_(metrics),
      log_(log),
      acceptor_(net::make_strand(ioc)),
      reaper_(net::make_strand(ioc)) {
  error_code ec;
  auto addr = net::ip::make_address(cfg_.listen_host, ec);
  if (ec)
    throw api_error(errc::invalid_arg, "cannot parse listen address '" + cfg_.listen_host + "'");
  net::ip::tcp::endpoint ep(addr, cfg_.listen_port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw api_error(errc::io, "cannot listen on " + cfg_.listen_host + ":" +
                                  std::to_string(cfg_.listen_port) + ": " + ec.message());
  bound_port_ = acceptor_.local_endpoint().port();
  auto table = std::make_shared<site_table>();
  if (make_upstream) {
    auto site = std::make_shared<upstream_site>();
    site->cfg = cfg_;
    site->make = std::move(make_upstream);
    site->remote = std::move(remote);
    table->fallback = std::move(site);
  }
  sites_ = std::move(table);
  router_ = std::make_unique<router>(cfg_, bound_port_, addr.is_loopback());
  max_connections_ = cfg_.max_connections;
  if (max_connections_ == 0) {  // half the descriptors: sessions need the rest
    rlimit rl{};
    max_connections_ = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                           ? std::max<std::size_t>(16, rl.rlim_cur / 2)
                           : 4096;
  }
}

std::string http_server::url() const {
  std::string host = cfg_.listen_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(bound_port_) + "/mcp";
}

void http_server::set_sites(std::shared_ptr<const site_table> sites) {
  std::lock_guard lk(m_);
  sites_ = std::move(sites);
}

std::shared_ptr<const site_table> http_server::sites() const {
  std::lock_guard lk(m_);
  return sites_;
}

void http_server::start() {
  auto self = shared_from_this();
  if (!acceptor_.local_endpoint().address().is_loopback() && cfg_.allowed_hosts.empty())
    log_.warn(
        "listening on a non-loopback address without --allow-host: the Host header is "
        "not checked (DNS rebinding protection is off)");
  net::co_spawn(
      acceptor_.get_executor(), [self] { return self->accept_loop(); },
      log_failure(log_, "the accept loop", [self] {
        error_code ignored;
        self->acceptor_.close(ignored);
      }));
  net::co_spawn(
      reaper_.get_executor(), [self] { return self->reap_loop(); },
      log_failure(log_, "the idle-session reaper"));
}

void http_server::refuse_connection(int fd) {
  connections_refused_.fetch_add(1, std::memory_order_relaxed);
  if (connections_refused_.load(std::memory_order_relaxed) == 1)
    log_.warn("connection limit reached (" + std::to_string(max_connections_) +
              ", --max-connections): refusing new connections with 503");
  // One non-blocking send: a client that does not read just gets the close.
  const std::string& reply = busy_reply();
  (void)::send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

std::size_t http_server::least_loaded_context() const noexcept {
  std::size_t best = 0;  // ties: the first (the acceptor's own thread)
  for (std::size_t i = 1; i < contexts_.size(); ++i)
    if (context_load_[i].load(std::memory_order_relaxed) <
        context_load_[best].load(std::memory_order_relaxed))
      best = i;
  return best;
}

net::awaitable<void> http_server::accept_loop() {
  net::steady_timer backoff(acceptor_.get_executor());
  for (;;) {
    // Accepted on the acceptor's own context (a pending accept must not hold a
    // socket of another context, which may be destroyed first at the end).
    auto [ec, sock] = co_await acceptor_.async_accept(net::make_strand(*contexts_[0]),
                                                      net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: back off instead of spinning on a full table.
      log_.warn("accept failed: " + ec.message() + "; retrying in 100 ms");
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    if (connections_.fetch_add(1) >= max_connections_) {
      connections_.fetch_sub(1);
      refuse_connection(sock.native_handle());
      error_code ignored;
      sock.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
      sock.close(ignored);
      continue;
    }
    connections_total_.fetch_add(1, std::memory_order_relaxed);
    // Each connection lives on one io_context (one I/O thread), and so does a
    // session opened on it: a lone session never wakes a second thread.
    const std::size_t ctx = least_loaded_context();
    // SSE answers go out as several small writes (header, events, last
    // chunk): without TCP_NODELAY, Nagle + delayed ACK hold them ~40 ms.
    error_code nd;
    sock.set_option(net::ip::tcp::no_delay(true), nd);
    auto conn = std::move(sock);
    if (ctx != 0) {  // re-homed: the descriptor moves to that context's reactor
      error_code mv;
      const auto protocol = acceptor_.local_endpoint(mv).protocol();
      const int fd = mv ? -1 : conn.release(mv);
      decltype(conn) moved(net::make_strand(*contexts_[ctx]));
      if (!mv) moved.assign(protocol, fd, mv);
      if (mv) {
        log_.warn("cannot move an accepted connection to its I/O thread: " + mv.message());
        if (fd >= 0) ::close(fd);
        connections_.fetch_sub(1);
        continue;
      }
      spawn_connection(std::move(moved), ctx);
    } else {
      spawn_connection(std::move(conn), ctx);
    }
  }
}

template <class Socket>
void http_server::spawn_connection(Socket sock, std::size_t ctx) {
  context_load_[ctx].fetch_add(1, std::memory_order_relaxed);
  auto self = shared_from_this();
  auto ex = sock.get_executor();
  net::co_spawn(
      ex,
      [self, s = net::ip::tcp::socket(std::move(sock)), ctx]() mutable {
        return self->serve_connection(std::move(s), ctx);
      },
      log_failure(log_, "a client connection"));  // its socket closes with its frame
}

net::awaitable<bool> http_server::answer(connection& c, const http_request& req,
                                         const http_refusal& r) {
  count(r.reason);
  http::response<http::string_body> res{r.status, req.version() ? req.version() : 11};
  res.set(http::field::server, "mcpfwd");
  res.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.body() = r.body;
  res.keep_alive(!r.close && req.keep_alive());
  res.prepare_payload();
  const error_code ec = co_await write_message(c.stream, res);
  co_return !ec && res.keep_alive();
}

net::awaitable<void> http_server::serve_connection(net::ip::tcp::socket sock, std::size_t ctx) {
  connection c(*this, std::move(sock), ctx);
  for (bool first = true;; first = false) {
    // Idle until the next request begins: the keep-alive deadline (for the
    // first request, the header deadline). This frame is what an idle
    // connection holds; a request's parser and state live in serve_request's.
    if (c.buf.size() == 0) {
      release_if_empty(c.buf);  // the idle read takes a small block (conn_buffer.hpp)
      c.idle->start(first ? cfg_.header_timeout : cfg_.keepalive_timeout);
      auto [ec, n] = co_await c.stream.socket().async_read_some(c.buf.prepare(conn_first_read),
                                                                net::as_tuple(net::use_awaitable));
      c.idle->stop();
      c.buf.commit(n);
      if (ec) break;  // closed, reset, or idle too long
    }
    if (!co_await serve_request(c)) break;
  }
  error_code ignored;
  c.stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
}

std::optional<session_transport> http_server::transport_of(std::string_view id) const {
  std::lock_guard lk(m_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  return it->second->transport();
}

// Its frame (about 1.5 KiB: the parser, the route, the request) lives only
// while a request is served; an idle keep-alive connection holds just
// serve_connection's. The price: Asio does not recycle frames over 1020
// bytes, so each request allocates it (see the allocation guard).
net::awaitable<bool> http_server::serve_request(connection& c) {
  http::request_parser<http::string_body> p;
  p.header_limit(http_header_limit);
  p.body_limit(boost::none);  // the router checks the announced size first
  // The head usually came whole with the connection's last read: parse it
  // from the buffer, and read only when it is incomplete (an asynchronous
  // read that finds its data buffered still costs a handler hop).
  error_code hec;
  if (c.buf.size() > 0) {
    const std::size_t used = p.put(c.buf.data(), hec);
    c.buf.consume(used);
    if (hec == http::error::need_more) hec = {};
  }
  if (!hec && !p.is_header_done()) {
    c.stream.expires_after(cfg_.header_timeout);
    auto [rec, rn] =
        co_await http::async_read_header(c.stream, c.buf, p, net::as_tuple(net::use_awaitable));
    (void)rn;
    hec = rec;
  }
  if (hec) {
    std::optional<http_refusal> fail;
    if (hec == http::error::header_limit || hec == http::error::buffer_overflow) {
      fail = refuse_header_too_large();
    } else if (hec != beast::error::timeout && hec != http::error::end_of_stream &&
               hec != net::error::eof && hec != net::error::connection_reset &&
               hec != net::error::operation_aborted) {
      fail = refuse_malformed_http(hec.message());
    }
    if (fail) co_await answer(c, p.get(), *fail);
    co_return false;
  }
  route r = router_->on_head(p.get().base(), stopping_flag_.load(),
                             [this](std::string_view id) { return transport_of(id); });
  if (r.kind == route_kind::refuse) {
    if (!p.is_done()) r.refusal.close = true;  // its body is never read
    co_return co_await answer(c, p.get(), r.refusal);
  }
  if (!p.is_done()) {
    if (expects_continue(p.get()) && p.get().version() >= 11) {
      if (co_await write_bytes(c.stream, "HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
    }
    p.body_limit(cfg_.max_message_bytes);
    // The body often came with its head: parse what is buffered first, and
    // read only for the rest (each asynchronous read costs a handler hop).
    error_code bec;
    while (!p.is_done() && c.buf.size() > 0) {
      const std::size_t used = p.put(c.buf.data(), bec);
      c.buf.consume(used);
      if (bec == http::error::need_more) bec = {};
      if (bec || used == 0) break;
    }
    if (!bec && !p.is_done()) {
      c.stream.expires_after(cfg_.body_timeout);
      auto [rec, rn] =
          co_await http::async_read(c.stream, c.buf, p, net::as_tuple(net::use_awaitable));
      (void)rn;
      bec = rec;
    }
    if (bec) {
      if (bec == http::error::body_limit) {
        r.refusal = http_refusal{};
        r.refusal.status = http::status::payload_too_large;
        r.refusal.reason = reject_reason::too_large;
        r.refusal.body = make_error_response({}, rpc_error::invalid_request,
                                             "Request body exceeds the maximum size of " +
                                                 std::to_string(cfg_.max_message_bytes) + " bytes");
        r.refusal.close = true;
        co_await answer(c, p.get(), r.refusal);
      } else if (bec == http::error::buffer_overflow || bec == http::error::bad_chunk ||
                 bec == http::error::bad_chunk_extension) {
        r.refusal = refuse_malformed_http(bec.message());
        co_await answer(c, p.get(), r.refusal);
      }
      co_return false;  // timeout, reset, malformed: the connection ends
    }
  }
  c.stream.expires_never();
  http_request req = p.release();
  const bool keep = co_await dispatch(c, std::move(r), req);
  co_return keep&& req.keep_alive();
}

template <class T>
net::awaitable<T> http_server::on_session(const connection& c, http_session& s,
                                          net::awaitable<T> a) {
  if (s.strand() == c.strand) co_return co_await std::move(a);
  co_return co_await net::co_spawn(s.strand(), std::move(a), net::use_awaitable);
}

net::awaitable<bool> http_server::dispatch(connection& c, route r, http_request& req) {
  // The site a new session opens on: the default upstream, or the named
  // server of the path, as configured now (null: 404).
  auto site_for_new = [&]() { return sites()->find(r.server); };
  if (r.kind == route_kind::modern_post) co_return co_await serve_modern(c, r, req);
  if (r.kind == route_kind::sse_open) {
    auto site = site_for_new();
    if (!site) co_return co_await answer(c, req, refuse_unknown_server(r.server));
    auto opened = open_session(c.strand, site, session_transport::legacy_sse, {});
    if (auto* f = std::get_if<http_refusal>(&opened)) co_return co_await answer(c, req, *f);
    auto sess = std::get<std::shared_ptr<http_session>>(std::move(opened));
    const std::string prefix = r.server.empty() ? std::string() : "/servers/" + r.server;
    co_await on_session(
        c, *sess,
        sess->serve_legacy_stream(c.stream, req, prefix + "/messages?sessionId=" + sess->id()));
    co_return false;  // the stream ended: close the connection
  }
  if (r.kind == route_kind::mcp_post || r.kind == route_kind::sse_post) {
    message msg;
    if (auto f = router_->on_body(r, std::move(req.body()), msg))
      co_return co_await answer(c, req, *f);
    std::shared_ptr<http_session> sess;
    if (r.session_id.empty()) {  // an initialize: a new session
      auto site = site_for_new();
      if (!site) co_return co_await answer(c, req, refuse_unknown_server(r.server));
      auto opened = open_session(c.strand, site, session_transport::streamable_http, msg.info.id);
      if (auto* f = std::get_if<http_refusal>(&opened)) co_return co_await answer(c, req, *f);
      sess = std::get<std::shared_ptr<http_session>>(std::move(opened));
    } else {
      sess = find(r.session_id);
    }
    // A session is reached only at its own server's path.
    if (!sess || sess->server() != r.server)
      co_return co_await answer(c, req, refuse_unknown_session());
    co_return co_await on_session(
        c, *sess, sess->serve_post(c.stream, c.buf, req, std::move(msg), r.accept_sse));
  }
  auto sess = find(r.session_id);
  if (!sess || sess->server() != r.server)
    co_return co_await answer(c, req, refuse_unknown_session());
  if (r.kind == route_kind::mcp_get) {
    co_await on_session(c, *sess, sess->serve_get(c.stream, req));
    co_return false;  // the stream ended: close the connection
  }
  co_return co_await on_session(c, *sess, sess->serve_delete(c.stream, req));
}

namespace {

std::pair<std::string, std::string> isolation_key_of(const std::string& k,
                                                     const http_request& req) {
  if (k.starts_with("header:")) {
    const std::string name = k.substr(7);
    auto it = req.find(name);
    if (it == req.end()) return {"h-", name + " (absent)"};
    std::string v(it->value());
    std::string label = name + ": " + (v.size() > 64 ? v.substr(0, 64) + "..." : v);
    return {"h:" + v, std::move(label)};
  }
  if (k == "authorization") {
    auto it = req.find(http::field::authorization);
    if (it == req.end()) return {"a-", "authorization (absent)"};
    // Never kept in clear: the key and its label are a digest of the value.
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    const std::string_view v = it->value();
    EVP_Digest(v.data(), v.size(), md, &len, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string h;
    for (unsigned i = 0; i < len; ++i) {
      h += hex[md[i] >> 4];
      h += hex[md[i] & 15];
    }
    return {"a:" + h, "authorization sha256:" + h.substr(0, 16)};
  }
  return {"shared", "shared"};
}
}  // namespace

std::pair<std::string, std::string> http_server::isolation_key(const upstream_site& site,
                                                               const http_request& req) const {
  auto [key, label] = isolation_key_of(site.cfg.stateless_key, req);
  // Each server has its own instances.
  if (!site.name.empty()) return {site.name + "\n" + key, site.name + ": " + label};
  return {std::move(key), std::move(label)};
}

std::variant<std::shared_ptr<http_session>, http_refusal> http_server::instance_for(
    const session_strand& home, const std::shared_ptr<const upstream_site>& site,
    const http_request& req, std::string_view id_json) {
  auto [key, label] = isolation_key(*site, req);
  {
    std::lock_guard lk(m_);
    if (auto it = instances_.find(key); it != instances_.end())
      if (auto s = sessions_.find(it->second); s != sessions_.end()) return s->second;
    // Another request of this key is opening its instance: wait for it
    // (null) rather than spawn a second server.
    if (!opening_.insert(key).second) return std::shared_ptr<http_session>();
  }
  struct opened_or_not {  // whatever happens, the key is no longer being opened
    http_server& s;
    const std::string& key;
    ~opened_or_not() {
      std::lock_guard lk(s.m_);
      s.opening_.erase(key);
    }
  } gate{*this, key};
  auto opened = open_session(home, site, session_transport::stateless, id_json, label);
  if (auto* f = std::get_if<http_refusal>(&opened)) return std::move(*f);
  auto sess = std::get<std::shared_ptr<http_session>>(std::move(opened));
  std::shared_ptr<http_session> other;
  {
    std::lock_guard lk(m_);
    auto [it, fresh] = instances_.try_emplace(key, sess->id());
    if (!fresh) {  // another request of this key opened one meanwhile
      if (auto s = sessions_.find(it->second); s != sessions_.end())
        other = s->second;
      else
        it->second = sess->id();
    }
    if (!other) instance_keys_[sess->id()] = key;
  }
  if (other) {
    sess->close(close_cause::duplicate, "a duplicate instance of its isolation key");
    return other;
  }
  log_.info("session " + sess->id() + ": stateless-era instance for key " + label);
  return sess;
}

net::awaitable<bool> http_server::reply_accepted(connection& c, const http_request& req) {
  http::response<http::empty_body> res{http::status::accepted, req.version() ? req.version() : 11};
  res.set(http::field::server, "mcpfwd");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  const error_code ec = co_await write_message(c.stream, res);
  co_return !ec && res.keep_alive();
}

net::awaitable<bool> http_server::serve_modern(connection& c, route& r, http_request& req) {
  message msg;
  if (auto f = router_->on_body(r, std::move(req.body()), msg))
    co_return co_await answer(c, req, *f);
  // A notification needs no instance, unless it cancels a request (the
  // stateless era has no other client notification).
  if (msg.info.kind == message_kind::notification && msg.info.method != "notifications/cancelled")
    co_return co_await reply_accepted(c, req);
  const auto site = sites()->find(r.server);
  if (!site) co_return co_await answer(c, req, refuse_unknown_server(r.server));
  bool legacy = site->cfg.era == upstream_era::legacy;
  // A remote server: one upstream POST per request, nothing to isolate;
  // unless it serves only the session era (then bridged, like a process).
  if (!legacy && site->remote && site->cfg.era == upstream_era::auto_detect)
    legacy = co_await remote_serves_legacy(*site);
  if (!legacy && site->remote)
    co_return co_await forward_modern(*site->remote, c.stream, req, std::move(msg.raw), log_);
  if (!legacy && site->cfg.era == upstream_era::auto_detect) {
    std::lock_guard lk(m_);
    auto seen = legacy_seen_.find(site->name);
    legacy = seen != legacy_seen_.end() &&
             std::chrono::steady_clock::now() - seen->second < legacy_verdict_ttl;
  }
  // A session-era upstream: the key's instance bridges (docs/eras.md).
  if (msg.info.kind == message_kind::notification) {  // a cancel: only to a live instance
    std::shared_ptr<http_session> sess;
    {
      std::lock_guard lk(m_);
      if (auto it = instances_.find(isolation_key(*site, req).first); it != instances_.end())
        if (auto s = sessions_.find(it->second); s != sessions_.end()) sess = s->second;
    }
    if (!sess) co_return co_await reply_accepted(c, req);
    co_return co_await on_session(
        c, *sess, sess->serve_post(c.stream, c.buf, req, std::move(msg), r.accept_sse));
  }
  auto opened = instance_for(c.strand, site, req, msg.info.id);
  // The key's instance is being opened by another request (a spawn: a few
  // ms): wait for it, polling, for at most 30 s.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (net::steady_timer t(c.stream.get_executor());;) {
    auto* s = std::get_if<std::shared_ptr<http_session>>(&opened);
    if (!s || *s || std::chrono::steady_clock::now() > give_up) break;
    t.expires_after(std::chrono::milliseconds(2));
    co_await t.async_wait(net::use_awaitable);
    opened = instance_for(c.strand, site, req, msg.info.id);
  }
  if (auto* f = std::get_if<http_refusal>(&opened)) co_return co_await answer(c, req, *f);
  auto sess = std::get<std::shared_ptr<http_session>>(std::move(opened));
  if (!sess)
    co_return co_await answer(
        c, req,
        refuse_upstream_failed("the isolation key's instance did not open in time", msg.info.id));
  if (legacy) sess->assume_legacy();  // not probed again: bridged at once
  const bool keep = co_await on_session(
      c, *sess, sess->serve_post(c.stream, c.buf, req, std::move(msg), r.accept_sse));
  if (sess->verdict() == http_session::era_verdict::legacy) {
    {
      std::lock_guard lk(m_);
      legacy_seen_[site->name] = std::chrono::steady_clock::now();
    }
    if (!sess->bridged())  // initialize failed too
      sess->close(close_cause::era_mismatch, "the upstream serves only the session era");
  }
  co_return keep;
}

net::awaitable<bool> http_server::remote_serves_legacy(const upstream_site& site) {
  {
    std::lock_guard lk(m_);
    if (auto it = remote_probed_.find(site.name);
        it != remote_probed_.end() &&
        std::chrono::steady_clock::now() - it->second.first < legacy_verdict_ttl)
      co_return !it->second.second;
  }
  const std::optional<bool> modern = co_await probe_remote_era(*site.remote);
  if (!modern) co_return false;  // unreachable: forwarded, the client sees why
  std::lock_guard lk(m_);
  auto [it, fresh] = remote_probed_.try_emplace(site.name);
  if (fresh || it->second.second != *modern)
    log_.info(*modern ? "the remote upstream serves the stateless era"
                      : "the remote upstream serves only the session era: bridging its modern "
                        "clients");
  it->second = {std::chrono::steady_clock::now(), *modern};
  co_return !*modern;
}

void http_server::count(reject_reason r) noexcept {
  rejected_[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
}

std::variant<std::shared_ptr<http_session>, http_refusal> http_server::open_session(
    const session_strand& home, const std::shared_ptr<const upstream_site>& site,
    session_transport transport, std::string_view id_json, std::string key_label) {
  // Admission: reserve a slot before spawning anything. A named server has
  // its own limit besides the proxy's.
  bool admitted = false;
  std::size_t limit = cfg_.max_sessions;
  {
    std::lock_guard lk(m_);
    // Sessions still draining (upstream being terminated) do not count:
    // their end is bounded by the shutdown grace periods.
    if (!stopping_ && sessions_.size() + starting_ < cfg_.max_sessions) admitted = true;
    if (admitted && per_site_[site->name] >= site->cfg.max_sessions) {
      admitted = false;
      limit = site->cfg.max_sessions;
    }
    if (admitted) {
      ++live_;
      ++starting_;
      ++per_site_[site->name];
    }
  }
  if (!admitted) {
    const std::string of = site->name.empty() ? std::string() : " of server " + site->name;
    log_.event(
        log_level::warn, "session_rejected",
        "session limit" + of + " reached (" + std::to_string(limit) + "): new session rejected",
        R"({"reason":"limit","max_sessions":)" + std::to_string(limit) + "}");
    if (cfg_.on_event)
      cfg_.on_event(event_kind::session_rejected, {},
                    "session limit" + of + " of " + std::to_string(limit) + " reached");
    return refuse_session_limit(limit, id_json);
  }
  std::shared_ptr<http_session> sess;
  try {
    auto self = shared_from_this();
    sess = std::make_shared<http_session>(
        home, new_session_id(cfg_.node_id), transport, site->make, site->cfg, log_, metrics_,
        [self](const std::string& id, const std::string& reason, bool finished) {
          self->on_session_event(id, reason, finished);
        });
    if (!site->name.empty()) sess->bind_server(site->name, site);
  } catch (const std::exception& e) {
    {
      std::lock_guard lk(m_);
      --live_;
      --starting_;
      if (--per_site_[site->name] == 0) per_site_.erase(site->name);
    }
    log_.error(std::string("cannot start a session: ") + e.what());
    return refuse_upstream_failed(e.what(), id_json);
  }
  if (transport == session_transport::stateless) sess->set_key_label(std::move(key_label));
  {
    std::lock_guard lk(m_);
    --starting_;
    sessions_.emplace(sess->id(), sess);
  }
  bump(metrics_.sessions_opened[static_cast<std::size_t>(sess->kind())]);
  log_.event(log_level::info, "session_opened",
             "session " + sess->id() + " opened" +
                 (site->name.empty() ? std::string() : " on server " + site->name),
             std::string(R"({"kind":")") + to_string(sess->kind()) + "\"" +
                 (site->name.empty() ? std::string() : R"(,"server":")" + site->name + "\"") + "}");
  sess->start();
  if (cfg_.on_event && !cfg_.on_event(event_kind::session_opened, sess->id(), {})) {
    sess->close(close_cause::callback, "session refused by the event callback");
    return refuse_by_app();
  }
  return sess;
}

std::shared_ptr<http_session> http_server::find(const std::string& id) const {
  std::lock_guard lk(m_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

void http_server::on_session_event(const std::string& id, const std::string& reason,
                                   bool finished) {
  std::function<void()> done;
  {
    std::lock_guard lk(m_);
    // A session stops counting against its server's limit once it stops
    // routing (as against --max-sessions: draining ones do not count).
    auto release = [this](const http_session& s) {
      if (auto ps = per_site_.find(s.server()); ps != per_site_.end() && --ps->second == 0)
        per_site_.erase(ps);
    };
    if (!finished) {  // closing: no longer routable, still inspectable
      if (auto it = sessions_.find(id); it != sessions_.end()) {
        release(*it->second);
        closing_.emplace(id, std::move(it->second));
        if (auto k = instance_keys_.find(id); k != instance_keys_.end()) {
          // The next request of that key gets a fresh instance.
          if (auto i = instances_.find(k->second); i != instances_.end() && i->second == id)
            instances_.erase(i);
          instance_keys_.erase(k);
        }
        sessions_.erase(it);
      }
      return;
    }
    // Its figures join those of the sessions that ended before.
    auto it = closing_.find(id);
    if (it == closing_.end()) it = sessions_.find(id);
    if (auto routable = sessions_.find(id); routable != sessions_.end()) release(*routable->second);
    if (it != closing_.end() && it != sessions_.end()) {
      const session_counters& c = it->second->counters();
      bump(metrics_.retired_c2s_messages, read(c.c2s_messages));
      bump(metrics_.retired_c2s_bytes, read(c.c2s_bytes));
      bump(metrics_.retired_s2c_messages, read(c.s2c_messages));
      bump(metrics_.retired_s2c_bytes, read(c.s2c_bytes));
      bump(metrics_.retired_dropped, read(c.dropped));
    }
    sessions_.erase(id);
    closing_.erase(id);
    if (live_ > 0) --live_;
    if (stopping_ && live_ == 0) done = std::move(on_done_);
  }
  // User code runs with no lock of ours held.
  if (cfg_.on_event) cfg_.on_event(event_kind::session_closed, id, reason);
  if (done) done();
}

net::awaitable<void> http_server::reap_loop() {
  for (;;) {
    // Each session is reaped after its own server's idle timeout.
    auto shortest = cfg_.idle_timeout;
    if (const auto t = sites()) {
      if (t->fallback) shortest = std::min(shortest, t->fallback->cfg.idle_timeout);
      for (const auto& [name, site] : t->named)
        shortest = std::min(shortest, site->cfg.idle_timeout);
    }
    const auto period = std::min<std::chrono::steady_clock::duration>(
        std::chrono::seconds(1),
        std::max<std::chrono::steady_clock::duration>(shortest / 4, std::chrono::milliseconds(50)));
    reaper_.expires_after(period);
    auto [ec] = co_await reaper_.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) break;
    std::vector<std::shared_ptr<http_session>> idle;
    {
      std::lock_guard lk(m_);
      if (stopping_) break;
      for (auto& [id, s] : sessions_)
        if (s->idle_for(s->config().idle_timeout)) idle.push_back(s);
    }
    for (auto& s : idle) {
      const auto ms = s->config().idle_timeout.count();
      log_.event(log_level::info, "session_reaped",
                 "session " + s->id() + " idle for " + std::to_string(ms) + " ms: closing",
                 R"({"idle_timeout_ms":)" + std::to_string(ms) + "}");
      bump(metrics_.sessions_reaped);
      s->close(close_cause::idle, "session closed after being idle");
    }
  }
}

void http_server::shutdown(std::function<void()> on_done) {
  std::vector<std::shared_ptr<http_session>> all;
  bool now = false;
  {
    std::lock_guard lk(m_);
    if (stopping_) return;
    stopping_ = true;
    stopping_flag_ = true;
    on_done_ = std::move(on_done);
    for (auto& [id, s] : sessions_) all.push_back(s);
    now = live_ == 0;
  }
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    error_code ignored;
    self->acceptor_.close(ignored);
  });
  net::post(reaper_.get_executor(), [self = shared_from_this()] { self->reaper_.cancel(); });
  for (auto& s : all) s->drain(cfg_.drain_timeout);
  if (now) {
    std::function<void()> done;
    {
      std::lock_guard lk(m_);
      done = std::move(on_done_);
    }
    if (done) done();
  }
}

std::string http_server::sessions_json() const {
  std::vector<std::shared_ptr<http_session>> all;
  {
    std::lock_guard lk(m_);
    for (auto& [id, s] : sessions_) all.push_back(s);
    for (auto& [id, s] : closing_) all.push_back(s);
  }
  std::string out = "[";
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i) out += ',';
    out += all[i]->snapshot_json();
  }
  out += ']';
  return out;
}

std::string http_server::session_json(const std::string& id) const {
  std::shared_ptr<http_session> s = find(id);
  if (!s) {
    std::lock_guard lk(m_);
    if (auto it = closing_.find(id); it != closing_.end()) s = it->second;
  }
  return s ? s->snapshot_json() : std::string();
}

bool http_server::close_session(const std::string& id) {
  auto s = find(id);
  if (!s) {  // already closing is fine: closing is idempotent
    std::lock_guard lk(m_);
    return closing_.count(id) > 0;
  }
  s->close(close_cause::operator_kill, "session closed by the operator");
  return true;
}

std::size_t http_server::session_count() const {
  std::lock_guard lk(m_);
  return sessions_.size();
}

json::object http_server::stats() const {
  json::object conns{{"open", connections_.load()},
                     {"total", connections_total_.load()},
                     {"refused", connections_refused_.load()},
                     {"max", max_connections_}};
  json::object rej;
  for (std::size_t i = 0; i < reject_reason_count; ++i)
    if (const auto n = rejected_[i].load(std::memory_order_relaxed))
      rej[to_string(static_cast<reject_reason>(i))] = n;
  return json::object{{"connections", std::move(conns)}, {"rejected", std::move(rej)}};
}

}  // namespace mcpfwd

namespace mcpfwd {

http_server::readiness http_server::ready() const {
  std::lock_guard lk(m_);
  if (stopping_) return readiness::draining;
  return sessions_.size() + starting_ >= cfg_.max_sessions ? readiness::full : readiness::ready;
}

void http_server::write_metrics(prom_text& out) const {
  std::array<std::array<std::uint64_t, kind_count>, state_count> by{};
  std::uint64_t c2s_m = 0, c2s_b = 0, s2c_m = 0, s2c_b = 0, dropped = 0;
  std::uint64_t in_flight = 0, streams = 0;
  bool draining = false;
  {
    // The retired totals are added to under this lock too: a session's
    // figures are counted either here or there, never twice.
    std::lock_guard lk(m_);
    draining = stopping_;
    auto add = [&](const http_session& s) {
      ++by[static_cast<std::size_t>(s.current_state())][static_cast<std::size_t>(s.kind())];
      const session_counters& c = s.counters();
      c2s_m += read(c.c2s_messages);
      c2s_b += read(c.c2s_bytes);
      s2c_m += read(c.s2c_messages);
      s2c_b += read(c.s2c_bytes);
      dropped += read(c.dropped);
      in_flight += c.in_flight.load(std::memory_order_relaxed);
      streams += c.open_streams.load(std::memory_order_relaxed);
    };
    for (const auto& [id, s] : sessions_) add(*s);
    for (const auto& [id, s] : closing_) add(*s);
    c2s_m += read(metrics_.retired_c2s_messages);
    c2s_b += read(metrics_.retired_c2s_bytes);
    s2c_m += read(metrics_.retired_s2c_messages);
    s2c_b += read(metrics_.retired_s2c_bytes);
    dropped += read(metrics_.retired_dropped);
  }
  out.family("mcpfwd_sessions", "gauge",
             "Sessions (and stateless-era upstream instances) by state and kind.");
  for (std::size_t st = 0; st < state_count; ++st)
    for (std::size_t k = 0; k < kind_count; ++k) {
      if (static_cast<session_kind>(k) == session_kind::stdio) continue;  // not in HTTP mode
      out.sample("mcpfwd_sessions",
                 {{"state", to_string(static_cast<session_state>(st))},
                  {"kind", to_string(static_cast<session_kind>(k))}},
                 by[st][k]);
    }
  out.family("mcpfwd_session_limit", "gauge", "The most sessions at once (--max-sessions).");
  out.sample("mcpfwd_session_limit", {}, cfg_.max_sessions);
  out.family("mcpfwd_draining", "gauge", "1 while the proxy shuts down (no new sessions).");
  out.sample("mcpfwd_draining", {}, std::uint64_t{draining ? 1u : 0u});
  out.family("mcpfwd_requests_in_flight", "gauge",
             "Client requests forwarded and not answered yet.");
  out.sample("mcpfwd_requests_in_flight", {}, in_flight);
  out.family("mcpfwd_open_streams", "gauge", "Event streams open to clients.");
  out.sample("mcpfwd_open_streams", {}, streams);

  out.family("mcpfwd_messages_total", "counter", "JSON-RPC messages forwarded, by direction.");
  out.sample("mcpfwd_messages_total", {{"direction", "client_to_server"}}, c2s_m);
  out.sample("mcpfwd_messages_total", {{"direction", "server_to_client"}}, s2c_m);
  out.family("mcpfwd_message_bytes_total", "counter",
             "Bytes of JSON-RPC messages forwarded, by direction.");
  out.sample("mcpfwd_message_bytes_total", {{"direction", "client_to_server"}}, c2s_b);
  out.sample("mcpfwd_message_bytes_total", {{"direction", "server_to_client"}}, s2c_b);
  out.family("mcpfwd_dropped_messages_total", "counter",
             "Server messages lost to clients that fell behind or had no stream open.");
  out.sample("mcpfwd_dropped_messages_total", {}, dropped);

  out.family("mcpfwd_http_connections", "gauge", "Client connections open on the listener.");
  out.sample("mcpfwd_http_connections", {}, connections_.load());
  out.family("mcpfwd_http_connections_total", "counter", "Client connections accepted.");
  out.sample("mcpfwd_http_connections_total", {}, connections_total_.load());
  out.family("mcpfwd_http_connections_refused_total", "counter",
             "Client connections refused at --max-connections.");
  out.sample("mcpfwd_http_connections_refused_total", {}, connections_refused_.load());
  out.family("mcpfwd_http_rejections_total", "counter",
             "HTTP requests refused before reaching a session, by reason.");
  for (std::size_t i = 0; i <= static_cast<std::size_t>(reject_reason::refused_by_app); ++i)
    out.sample("mcpfwd_http_rejections_total",
               {{"reason", to_string(static_cast<reject_reason>(i))}},
               rejected_[i].load(std::memory_order_relaxed));
}

}  // namespace mcpfwd
