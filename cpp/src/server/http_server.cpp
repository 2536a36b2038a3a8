#include "server/http_server.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include <boost/beast/core.hpp>

#include "base/errors.hpp"

namespace mcpfwd {

namespace {

constexpr auto header_timeout = std::chrono::seconds(60);

std::string new_session_id() {
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
  return id;
}

bool supported_version(std::string_view v) {
  return v == "2024-11-05" || v == "2025-03-26" || v == "2025-06-18" || v == "2025-11-25";
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

bool accepts(std::string_view accept, std::string_view type) {
  return accept.find(type) != std::string_view::npos ||
         accept.find("*/*") != std::string_view::npos;
}

// Writes a complete (non-streaming) answer; true if the connection stays open.
net::awaitable<bool> write_reply(
    beast::tcp_stream& stream, const http_request& req, http::status st, std::string body,
    bool close = false, std::function<void(http::response<http::string_body>&)> extra = {}) {
  http::response<http::string_body> res{st, req.version() ? req.version() : 11};
  res.set(http::field::server, "mcpfwd");
  if (!body.empty()) res.set(http::field::content_type, "application/json");
  if (extra) extra(res);
  res.body() = std::move(body);
  res.keep_alive(!close && req.keep_alive());
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(30));
  auto [ec, n] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
  (void)n;
  co_return !ec && res.keep_alive();
}

// The value of one query parameter (no percent-decoding: session ids are hex).
std::string_view query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    if (kv.size() > name.size() && kv.substr(0, name.size()) == name && kv[name.size()] == '=')
      return kv.substr(name.size() + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace

http_server::http_server(net::io_context& ioc, http_server_options opts,
                         upstream_factory make_upstream, const logger& log)
    : ioc_(ioc),
      opts_(std::move(opts)),
      make_upstream_(std::move(make_upstream)),
      log_(log),
      acceptor_(net::make_strand(ioc)),
      reaper_(net::make_strand(ioc)) {
  error_code ec;
  auto addr = net::ip::make_address(opts_.host, ec);
  if (ec) throw api_error(errc::invalid_arg, "cannot parse listen address '" + opts_.host + "'");
  net::ip::tcp::endpoint ep(addr, opts_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw api_error(errc::io, "cannot listen on " + opts_.host + ":" + std::to_string(opts_.port) +
                                  ": " + ec.message());
  bound_port_ = acceptor_.local_endpoint().port();
}

std::string http_server::url() const {
  std::string host = opts_.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(bound_port_) + "/mcp";
}

void http_server::start() {
  auto self = shared_from_this();
  net::co_spawn(
      acceptor_.get_executor(), [self] { return self->accept_loop(); }, [](std::exception_ptr) {});
  net::co_spawn(
      reaper_.get_executor(), [self] { return self->reap_loop(); }, [](std::exception_ptr) {});
}

net::awaitable<void> http_server::accept_loop() {
  net::steady_timer backoff(acceptor_.get_executor());
  for (;;) {
    auto [ec, sock] =
        co_await acceptor_.async_accept(net::make_strand(ioc_), net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: back off instead of spinning on a full table.
      log_.warn("accept failed: " + ec.message() + "; retrying in 100 ms");
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    // SSE answers go out as several small writes (header, events, last
    // chunk): without TCP_NODELAY, Nagle + delayed ACK hold them ~40 ms.
    error_code nd;
    sock.set_option(net::ip::tcp::no_delay(true), nd);
    auto self = shared_from_this();
    auto ex = sock.get_executor();
    net::co_spawn(
        ex, [self, s = std::move(sock)]() mutable { return self->serve_connection(std::move(s)); },
        [](std::exception_ptr) {});
  }
}

bool http_server::origin_allowed(std::string_view origin) const {
  if (!opts_.allowed_origins.empty()) {
    for (const auto& o : opts_.allowed_origins)
      if (o == "*" || o == origin) return true;
    return false;
  }
  std::string_view rest;
  if (origin.starts_with("http://"))
    rest = origin.substr(7);
  else if (origin.starts_with("https://"))
    rest = origin.substr(8);
  else
    return false;
  std::string_view host;
  if (rest.starts_with("[")) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return false;
    host = rest.substr(0, close + 1);
    rest = rest.substr(close + 1);
  } else {
    const auto colon = rest.find(':');
    host = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon);
  }
  if (!rest.empty()) {  // only ":digits" may follow the host
    if (rest[0] != ':' || rest.size() == 1) return false;
    for (char c : rest.substr(1))
      if (c < '0' || c > '9') return false;
  }
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

net::awaitable<void> http_server::serve_connection(net::ip::tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(opts_.session.max_message_bytes);
    stream.expires_after(header_timeout);
    auto [rec, rn] =
        co_await http::async_read(stream, buf, parser, net::as_tuple(net::use_awaitable));
    (void)rn;
    if (rec == http::error::end_of_stream || rec == net::error::eof) break;
    http_request req;
    auto reply = [&](http::status st, std::string body, bool close = false,
                     std::function<void(http::response<http::string_body>&)> extra = {}) {
      return write_reply(stream, req, st, std::move(body), close, std::move(extra));
    };
    if (rec == http::error::body_limit) {
      co_await reply(
          http::status::payload_too_large,
          make_error_response({}, rpc_error::invalid_request,
                              "Request body exceeds the maximum size of " +
                                  std::to_string(opts_.session.max_message_bytes) + " bytes"),
          true);
      break;
    }
    if (rec) break;  // malformed HTTP, timeout, reset: drop the connection
    req = parser.release();

    // --- checks that allocate nothing ---------------------------------
    if (auto o = req.find(http::field::origin); o != req.end() && !origin_allowed(o->value())) {
      if (!co_await reply(
              http::status::forbidden,
              make_error_response({}, rpc_error::invalid_request, "Origin not allowed")))
        break;
      continue;
    }
    if (!opts_.auth_token.empty()) {
      auto a = req.find(http::field::authorization);
      std::string_view v = a == req.end() ? std::string_view() : std::string_view(a->value());
      if (!(v.size() > 7 && v.substr(0, 7) == "Bearer " &&
            constant_time_equal(v.substr(7), opts_.auth_token))) {
        if (!co_await reply(http::status::unauthorized,
                            make_error_response({}, rpc_error::invalid_request, "Unauthorized"),
                            false,
                            [](auto& res) { res.set(http::field::www_authenticate, "Bearer"); }))
          break;
        continue;
      }
    }
    std::string_view target = req.target();
    std::string_view query;
    if (auto q = target.find('?'); q != std::string_view::npos) {
      query = target.substr(q + 1);
      target = target.substr(0, q);
    }
    if (target == "/sse" || target == "/messages") {  // legacy HTTP+SSE (2024-11-05)
      const bool keep = co_await serve_legacy(stream, req, target == "/sse", query);
      if (!keep) break;
      continue;
    }
    if (target != "/mcp") {
      if (!co_await reply(http::status::not_found,
                          make_error_response({}, rpc_error::invalid_request,
                                              "Not found: use /mcp (or /sse for HTTP+SSE)")))
        break;
      continue;
    }
    const auto method = req.method();
    if (method != http::verb::post && method != http::verb::get && method != http::verb::delete_) {
      if (!co_await reply(http::status::method_not_allowed,
                          make_error_response({}, rpc_error::invalid_request, "Method not allowed"),
                          false,
                          [](auto& res) { res.set(http::field::allow, "GET, POST, DELETE"); }))
        break;
      continue;
    }
    if (auto v = req.find("MCP-Protocol-Version");
        v != req.end() && !supported_version(v->value())) {
      if (!co_await reply(
              http::status::bad_request,
              make_error_response({}, rpc_error::invalid_request,
                                  "Unsupported MCP-Protocol-Version: " + std::string(v->value()))))
        break;
      continue;
    }
    if (stopping_flag_) {  // draining: new work is refused, in-flight work finishes
      co_await reply(http::status::service_unavailable,
                     make_error_response({}, rpc_error::upstream_error,
                                         "Service Unavailable: the proxy is shutting down"),
                     true, [](auto& res) { res.set(http::field::retry_after, "5"); });
      break;
    }
    std::string sid;
    if (auto s = req.find("Mcp-Session-Id"); s != req.end()) sid = std::string(s->value());
    const std::string accept = [&] {
      auto a = req.find(http::field::accept);
      return a == req.end() ? std::string("*/*") : std::string(a->value());
    }();

    if (method == http::verb::post) {
      message msg;
      classify_error err;
      if (!classify(std::move(req.body()), msg, err)) {
        if (!co_await reply(http::status::bad_request,
                            make_error_response(err.id, err.code, err.message)))
          break;
        continue;
      }
      const bool is_init =
          msg.info.kind == message_kind::request && msg.info.method == "initialize";
      std::shared_ptr<http_session> sess;
      if (sid.empty()) {
        if (!is_init) {
          if (!co_await reply(
                  http::status::bad_request,
                  make_error_response(msg.info.id, rpc_error::invalid_request,
                                      "Bad Request: Mcp-Session-Id header is required")))
            break;
          continue;
        }
        http::status fail_status{};
        std::string fail_text;
        sess = open_session(fail_status, fail_text);
        if (!sess) {
          if (!co_await reply(
                  fail_status,
                  make_error_response(msg.info.id, rpc_error::upstream_error, fail_text), false,
                  [&](auto& res) {
                    if (fail_status == http::status::service_unavailable)
                      res.set(http::field::retry_after, "5");
                  }))
            break;
          continue;
        }
      } else {
        sess = find(sid);
        if (!sess) {
          if (!co_await reply(http::status::not_found,
                              make_error_response({}, -32001, "Session not found")))
            break;
          continue;
        }
      }
      const bool sse = accepts(accept, "text/event-stream");
      co_await net::co_spawn(sess->strand(), sess->serve_post(stream, req, std::move(msg), sse),
                             net::use_awaitable);
    } else {
      if (sid.empty()) {
        if (!co_await reply(http::status::bad_request,
                            make_error_response({}, rpc_error::invalid_request,
                                                "Bad Request: Mcp-Session-Id header is required")))
          break;
        continue;
      }
      auto sess = find(sid);
      if (!sess) {
        if (!co_await reply(http::status::not_found,
                            make_error_response({}, -32001, "Session not found")))
          break;
        continue;
      }
      if (method == http::verb::get) {
        if (!accepts(accept, "text/event-stream")) {
          if (!co_await reply(
                  http::status::not_acceptable,
                  make_error_response({}, rpc_error::invalid_request,
                                      "Not Acceptable: GET needs Accept: text/event-stream")))
            break;
          continue;
        }
        co_await net::co_spawn(sess->strand(), sess->serve_get(stream, req), net::use_awaitable);
        break;  // the stream ended: close the connection
      }
      co_await net::co_spawn(sess->strand(), sess->serve_delete(stream, req), net::use_awaitable);
    }
    if (!req.keep_alive()) break;
  }
  error_code ignored;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
}

net::awaitable<bool> http_server::serve_legacy(beast::tcp_stream& stream, http_request& req,
                                               bool sse_endpoint, std::string_view query) {
  const auto method = req.method();
  if (sse_endpoint) {
    if (method != http::verb::get)
      co_return co_await write_reply(
          stream, req, http::status::method_not_allowed,
          make_error_response({}, rpc_error::invalid_request, "Method not allowed: GET /sse"),
          false, [](auto& res) { res.set(http::field::allow, "GET"); });
    http::status fail_status{};
    std::string fail_text;
    auto sess = open_session(fail_status, fail_text);
    if (!sess)
      co_return co_await write_reply(stream, req, fail_status,
                                     make_error_response({}, rpc_error::upstream_error, fail_text),
                                     false, [&](auto& res) {
                                       if (fail_status == http::status::service_unavailable)
                                         res.set(http::field::retry_after, "5");
                                     });
    co_await net::co_spawn(
        sess->strand(), sess->serve_legacy_stream(stream, req, "/messages?sessionId=" + sess->id()),
        net::use_awaitable);
    co_return false;  // the stream ended: close the connection
  }
  if (method != http::verb::post)
    co_return co_await write_reply(
        stream, req, http::status::method_not_allowed,
        make_error_response({}, rpc_error::invalid_request, "Method not allowed: POST /messages"),
        false, [](auto& res) { res.set(http::field::allow, "POST"); });
  const std::string sid(query_param(query, "sessionId"));
  if (sid.empty())
    co_return co_await write_reply(
        stream, req, http::status::bad_request,
        make_error_response({}, rpc_error::invalid_request,
                            "Bad Request: the sessionId query parameter is required"));
  auto sess = find(sid);
  if (!sess)
    co_return co_await write_reply(stream, req, http::status::not_found,
                                   make_error_response({}, -32001, "Session not found"));
  message msg;
  classify_error err;
  if (!classify(std::move(req.body()), msg, err))
    co_return co_await write_reply(stream, req, http::status::bad_request,
                                   make_error_response(err.id, err.code, err.message));
  co_await net::co_spawn(sess->strand(), sess->serve_post(stream, req, std::move(msg), false),
                         net::use_awaitable);
  co_return req.keep_alive();
}

std::shared_ptr<http_session> http_server::open_session(http::status& fail_status,
                                                        std::string& fail_text) {
  // Admission: reserve a slot before spawning anything.
  bool admitted = false;
  {
    std::lock_guard lk(m_);
    // Sessions still draining (upstream being terminated) do not count:
    // their end is bounded by the shutdown grace periods.
    if (!stopping_ && sessions_.size() + starting_ < opts_.max_sessions) {
      ++live_;
      ++starting_;
      admitted = true;
    }
  }
  if (!admitted) {
    log_.warn("session limit reached (" + std::to_string(opts_.max_sessions) +
              "): new session rejected");
    if (opts_.on_event)
      opts_.on_event(event_kind::session_rejected, {},
                     "session limit of " + std::to_string(opts_.max_sessions) + " reached");
    fail_status = http::status::service_unavailable;
    fail_text =
        "Too many sessions: the proxy is at its limit of " + std::to_string(opts_.max_sessions);
    return nullptr;
  }
  std::shared_ptr<http_session> sess;
  try {
    auto self = shared_from_this();
    sess = std::make_shared<http_session>(
        ioc_.get_executor(), new_session_id(), make_upstream_, opts_.session, log_,
        [self](const std::string& id, const std::string& reason, bool finished) {
          self->on_session_event(id, reason, finished);
        });
  } catch (const std::exception& e) {
    {
      std::lock_guard lk(m_);
      --live_;
      --starting_;
    }
    log_.error(std::string("cannot start a session: ") + e.what());
    fail_status = http::status::bad_gateway;
    fail_text = std::string("Cannot start the upstream: ") + e.what();
    return nullptr;
  }
  {
    std::lock_guard lk(m_);
    --starting_;
    sessions_.emplace(sess->id(), sess);
  }
  log_.info("session " + sess->id() + " opened");
  sess->start();
  if (opts_.on_event && !opts_.on_event(event_kind::session_opened, sess->id(), {})) {
    sess->close("session refused by the event callback");
    fail_status = http::status::forbidden;
    fail_text = "Forbidden: the session was refused by the embedding application";
    return nullptr;
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
    if (!finished) {  // closing: no longer routable, still inspectable
      if (auto it = sessions_.find(id); it != sessions_.end()) {
        closing_.emplace(id, std::move(it->second));
        sessions_.erase(it);
      }
      return;
    }
    sessions_.erase(id);
    closing_.erase(id);
    if (live_ > 0) --live_;
    if (stopping_ && live_ == 0) done = std::move(on_done_);
  }
  // User code runs with no lock of ours held.
  if (opts_.on_event) opts_.on_event(event_kind::session_closed, id, reason);
  if (done) done();
}

net::awaitable<void> http_server::reap_loop() {
  const auto period = std::min<std::chrono::steady_clock::duration>(
      std::chrono::seconds(1), std::max<std::chrono::steady_clock::duration>(
                                   opts_.idle_timeout / 4, std::chrono::milliseconds(50)));
  for (;;) {
    reaper_.expires_after(period);
    auto [ec] = co_await reaper_.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) break;
    std::vector<std::shared_ptr<http_session>> idle;
    {
      std::lock_guard lk(m_);
      if (stopping_) break;
      for (auto& [id, s] : sessions_)
        if (s->idle_for(opts_.idle_timeout)) idle.push_back(s);
    }
    for (auto& s : idle) {
      log_.info("session " + s->id() + " idle for " + std::to_string(opts_.idle_timeout.count()) +
                " ms: closing");
      s->close("session closed after being idle");
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
  for (auto& s : all) s->drain(opts_.drain_timeout);
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
  s->close("session closed by the operator");
  return true;
}

std::size_t http_server::session_count() const {
  std::lock_guard lk(m_);
  return sessions_.size();
}

}  // namespace mcpfwd
