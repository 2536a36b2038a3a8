#include "session/http_session.hpp"

#include "base/errors.hpp"
#include "base/spawn.hpp"
#include "io/http_write.hpp"
#include "protocol/bridge.hpp"
#include "protocol/era.hpp"

namespace mcpfwd {

namespace {

constexpr auto keepalive_every = std::chrono::seconds(15);
constexpr std::size_t watch_chunk = 4096;
// How long a POST's answers may take before its client is watched for leaving.
constexpr auto client_watch_delay = std::chrono::milliseconds(5);
// How long a new stateless instance's upstream may take to answer the era
// probe (server/discover) before it is taken for a session-era server.
constexpr auto probe_timeout = std::chrono::seconds(10);

// The HTTP status of a stateless-era JSON answer: the error's, by the table.
http::status modern_status(std::string_view body) {
  if (body.find("\"error\"") == std::string_view::npos) return http::status::ok;
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return http::status::ok;
  const auto* e = v.as_object().if_contains("error");
  const auto* code = e && e->is_object() ? e->as_object().if_contains("code") : nullptr;
  if (code == nullptr || !code->is_int64()) return http::status::ok;
  return static_cast<http::status>(http_status_for_error(static_cast<int>(code->as_int64())));
}

// One SSE event; `id` (without the "id: " field name) may be empty.
std::string sse_event(const std::string& json, std::string_view id = {}) {
  std::string ev;
  ev.reserve(json.size() + 48);
  if (!id.empty()) {
    ev += "id: ";
    ev += id;
    ev += '\n';
  }
  ev += "event: message\ndata: ";
  ev += json;
  ev += "\n\n";
  return ev;
}

// Event ids of the GET stream are "g<seq>" (seq counts per session from 1).
// Returns 0 when `id` is not one of ours.
std::uint64_t parse_get_event_id(std::string_view id) {
  if (id.size() < 2 || id[0] != 'g') return 0;
  std::uint64_t v = 0;
  for (char c : id.substr(1)) {
    if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10) return 0;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::string cancelled_notification(const std::string& id, const char* reason) {
  return R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" + id +
         R"(,"reason":")" + reason + R"("}})";
}

}  // namespace

http_session::http_session(session_strand home, std::string id, session_transport transport,
                           const upstream_factory& make_upstream, const proxy_config& cfg,
                           const logger& log, proxy_metrics& metrics, closed_fn on_closed)
    : strand_(std::move(home)),
      rec_(std::move(id),
           transport == session_transport::legacy_sse  ? session_kind::legacy_sse
           : transport == session_transport::stateless ? session_kind::stateless
                                                       : session_kind::streamable_http,
           cfg),
      n_(rec_.counters()),
      transport_(transport),
      cfg_(cfg),
      log_(log),
      metrics_(metrics),
      on_closed_(std::move(on_closed)),
      upstream_(make_upstream(strand_, "session " + rec_.id() + ": ")),
      buffer_(cfg.stream_buffer_bytes),
      sent_(cfg.stream_buffer_bytes, replay_limit) {}

http_session::~http_session() = default;

void http_session::start() {
  auto self = shared_from_this();
  rec_.set_state(session_state::ready);
  upstream_->start(self, *this);
  net::co_spawn(
      strand_, [self] { return self->supervise(); },
      log_failure(log_, "session " + id() + " supervisor", [self] {
        if (!self->closing_) self->metrics_.closed(close_cause::internal);
        self->rec_.set_state(session_state::closed);
        if (self->on_closed_) self->on_closed_(self->id(), "internal error", true);
      }));
}

// Every response of the session is written from this head, by hand: the
// status line; Content-Type; for an event stream, Cache-Control and
// X-Accel-Buffering; Server; Mcp-Session-Id (Streamable HTTP); Connection as
// `keep_alive` asks in the request's HTTP version; then Content-Length, or
// Transfer-Encoding: chunked for an event stream (no `length`). Building it
// costs a fraction of a Beast message and serializer, and no allocation but
// the string's.
std::string http_session::response_head(const http_request& req, http::status st,
                                        std::string_view type, bool keep_alive,
                                        std::optional<std::size_t> length) const {
  const bool v10 = req.version() == 10;
  const auto code = static_cast<unsigned>(st);
  std::string h;
  h.reserve(192);
  h += v10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  h += std::to_string(code);
  h += ' ';
  h += http::obsolete_reason(st);
  h += "\r\n";
  if (!type.empty()) {
    h += "Content-Type: ";
    h += type;
    h += "\r\n";
  }
  if (!length) h += "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
  h += "Server: mcpfwd\r\n";
  if (transport_ == session_transport::streamable_http) {
    h += "Mcp-Session-Id: ";
    h += id();
    h += "\r\n";
  }
  if (v10 && keep_alive) h += "Connection: keep-alive\r\n";
  if (!v10 && !keep_alive) h += "Connection: close\r\n";
  if (!length) {
    h += "Transfer-Encoding: chunked\r\n";
  } else if (code >= 200 && st != http::status::no_content && st != http::status::not_modified) {
    h += "Content-Length: ";
    h += std::to_string(*length);
    h += "\r\n";
  }
  h += "\r\n";
  return h;
}

net::awaitable<bool> http_session::write_sse_head(beast::tcp_stream& stream,
                                                  const http_request& req, bool keep_alive) {
  const std::string head =
      response_head(req, http::status::ok, "text/event-stream", keep_alive, std::nullopt);
  co_return !(co_await write_bytes(stream, head));
}

net::awaitable<bool> http_session::reply_now(beast::tcp_stream& stream, const http_request& req,
                                             http::status st, std::string body) {
  const bool keep_alive = req.keep_alive();
  const std::string head = response_head(
      req, st, body.empty() ? std::string_view() : "application/json", keep_alive, body.size());
  const error_code ec = co_await write_head_and_body(stream, head, body);
  co_return !ec && keep_alive;
}

// ---------------------------------------------------------------- watching

void http_session::watch_client(beast::tcp_stream& stream, conn_buffer* buf, const waiter_ptr& w) {
  net::mutable_buffer into;
  if (buf != nullptr) {
    // Bytes already there (a pipelined request): the client is present, and
    // reading more could not tell its close from its next request.
    if (buf->size() > 0 || buf->size() >= buf->max_size()) return;
    into = buf->prepare(std::min(watch_chunk, buf->max_size() - buf->size()));
  } else {
    into = net::buffer(w->scratch);
  }
  w->watching = true;
  stream.socket().async_read_some(
      into, net::bind_executor(strand_, [this, self = shared_from_this(), &stream, buf, w](
                                            error_code ec, std::size_t n) {
        if (buf != nullptr) buf->commit(n);
        if (!ec && buf == nullptr && !w->stop_watch) {  // an event stream: read on
          watch_client(stream, nullptr, w);
          return;
        }
        w->watching = false;
        if (ec && ec != net::error::operation_aborted) w->client_gone = true;
        w->notify();
      }));
}

void http_session::watch_later(beast::tcp_stream& stream, conn_buffer* buf, const waiter_ptr& w) {
  const auto from = std::chrono::steady_clock::now() + client_watch_delay;
  unwatched_.push_back({w, &stream, buf, from});
  arm_watch_tick(from);
}

void http_session::unwatch(const waiter* w) {
  std::erase_if(unwatched_, [w](const unwatched& u) { return u.w.get() == w; });
}

void http_session::arm_watch_tick(std::chrono::steady_clock::time_point at) {
  // Entries come in the order of their `from`: an armed tick is due no later.
  if (watch_tick_armed_) return;
  if (!watch_tick_) watch_tick_ = std::make_unique<net::steady_timer>(strand_);
  watch_tick_armed_ = true;
  watch_tick_->expires_at(at);
  watch_tick_->async_wait([weak = weak_from_this()](error_code ec) {
    auto self = weak.lock();
    if (!self) return;
    self->watch_tick_armed_ = false;
    if (ec) return;
    try {
      self->on_watch_tick();
    } catch (const std::exception& e) {  // could not arm a read: the session cannot go on
      self->log_.error("session " + self->id() + ": watching clients failed: " + e.what());
      self->do_close(close_cause::internal, "mcpfwd internal error");
    }
  });
}

void http_session::on_watch_tick() {
  const auto now = std::chrono::steady_clock::now();
  std::size_t due = 0;
  while (due < unwatched_.size() && unwatched_[due].from <= now) ++due;
  // Taken off the list first: watch_client may complete (and the POST end) at once.
  std::vector<unwatched> start(std::make_move_iterator(unwatched_.begin()),
                               std::make_move_iterator(unwatched_.begin() + due));
  unwatched_.erase(unwatched_.begin(), unwatched_.begin() + due);
  if (!unwatched_.empty()) arm_watch_tick(unwatched_.front().from);
  for (auto& u : start) watch_client(*u.stream, u.buf, u.w);
}

net::awaitable<void> http_session::stop_watching(beast::tcp_stream& stream, const waiter_ptr& w) {
  w->stop_watch = true;
  if (!w->watching) co_return;
  error_code ignored;
  stream.socket().cancel(ignored);
  while (w->watching) {
    w->wake.expires_after(std::chrono::seconds(5));
    co_await w->wake.async_wait(net::as_tuple(net::use_awaitable));
  }
}

// -------------------------------------------------------------------- POST

bool http_session::admit_requests(const waiter_ptr& w, std::vector<message>& parts) {
  std::vector<message> send;
  send.reserve(parts.size());
  for (auto& m : parts) {
    const message_info& mi = m.info;
    if (mi.kind == message_kind::request && transport_ == session_transport::stateless) {
      rewrite_for_upstream(w, m);  // the ids of many clients meet on one upstream
    } else if (mi.kind == message_kind::request) {
      if (by_id_.count(mi.id) > 0) {  // also an id earlier in the same batch
        session_counters::add(n_.invalid);
        log_.warn("session " + id() + ": refused a request whose id " + mi.id +
                  " is already in flight");
        w->responses.push_back(
            make_error_response(mi.id, rpc_error::invalid_request, duplicate_id_text(mi.id)));
        if (!w->batch) return false;
        continue;
      }
      w->ids.push_back(mi.id);
      const auto method = static_cast<std::uint8_t>(method_index(mi.method));
      if (w->batch)
        w->batch_methods[mi.id] = method;
      else
        w->method = method;
      ++w->pending;
      by_id_[mi.id] = w;
      if (!mi.progress_token.empty()) {
        w->tokens.push_back(mi.progress_token);
        by_token_[mi.progress_token] = w;
      }
      rec_.client_request(mi);
    }
    send.push_back(std::move(m));
  }
  parts = std::move(send);
  // Only a POST carrying requests waits for answers (and may be given the
  // server's related messages): one with notifications and responses alone
  // is answered 202 once they are delivered.
  if (w->pending > 0) {
    n_.in_flight.fetch_add(static_cast<std::uint32_t>(w->pending));
    posts_.push_back(w);
  }
  return true;
}

bool http_session::unmap(const std::string& id, const waiter_ptr& w, request_outcome outcome) {
  auto it = by_id_.find(id);
  if (it == by_id_.end() || it->second != w) return false;
  by_id_.erase(it);
  --w->pending;
  n_.in_flight.fetch_sub(1);
  // Counted once: the id is in by_id_ (for this waiter) only until here.
  const auto took = std::chrono::steady_clock::now() - w->start;
  if (!w->batch) {
    if (w->method) metrics_.request_done(*w->method, outcome, took);
  } else if (auto m = w->batch_methods.find(id); m != w->batch_methods.end()) {
    metrics_.request_done(m->second, outcome, took);
    w->batch_methods.erase(m);
  }
  return true;
}

void http_session::legacy_request(const message_info& mi) {
  constexpr std::size_t tracked_max = 4096;  // beyond: not timed (a client's own problem)
  if (mi.kind != message_kind::request || legacy_pending_.size() >= tracked_max) return;
  legacy_pending_.try_emplace(
      mi.id, legacy_pending{method_index(mi.method), std::chrono::steady_clock::now()});
}

void http_session::legacy_answer(const message_info& mi) {
  auto it = legacy_pending_.find(mi.id);
  if (it == legacy_pending_.end()) return;
  metrics_.request_done(
      it->second.method,
      mi.kind == message_kind::error ? request_outcome::error : request_outcome::ok,
      std::chrono::steady_clock::now() - it->second.start);
  legacy_pending_.erase(it);
}

void http_session::cancel_upstream(const std::string& id, const char* reason) {
  upstream_->send_now(cancelled_notification(id, reason));
}

// Forget a finished POST: its requests still unanswered stop counting as in
// flight (their late answers are dropped) and, with a reason, are cancelled
// upstream.
void http_session::forget(const waiter_ptr& w, request_outcome outcome, const char* cancel_reason) {
  for (const auto& id : w->ids)
    if (unmap(id, w, outcome) && cancel_reason != nullptr) cancel_upstream(id, cancel_reason);
  for (const auto& t : w->tokens)
    if (auto it = by_token_.find(t); it != by_token_.end() && it->second == w) by_token_.erase(it);
  posts_.remove(w);
}

net::awaitable<bool> http_session::stream_event(beast::tcp_stream& stream, const http_request& req,
                                                bool& sse, const std::string& json) {
  if (!sse) {
    const bool keep = req.keep_alive();
    const bool head_ok = co_await write_sse_head(stream, req, keep);
    if (!head_ok) co_return false;
    sse = true;
  }
  if (co_await write_chunk(stream, sse_event(json))) co_return false;
  n_.server_to_client(json.size());
  co_return true;
}

net::awaitable<void> http_session::await_answers(beast::tcp_stream& stream, const http_request& req,
                                                 const waiter_ptr& w, bool& sse,
                                                 conn_buffer* watch) {
  const bool timed = cfg_.request_timeout.count() > 0 && !w->listen;
  if (timed) w->deadline = std::chrono::steady_clock::now() + cfg_.request_timeout;
  // A stateless-era answer stream gets keep-alive comments (as the SDK
  // servers send them) so that no intermediary times out a long request.
  const bool keep_alive = transport_ == session_transport::stateless && w->accept_sse;
  if (watch != nullptr) watch_later(stream, watch, w);
  w->stream = &stream;
  struct unwatch_on_exit {
    http_session& s;
    waiter* w;
    ~unwatch_on_exit() {
      s.unwatch(w);
      w->stream = nullptr;
    }
  } unwatch_guard{*this, w.get()};
  for (;;) {
    while (!w->q.empty() && !w->client_gone) {
      const std::string j = w->q.pop_front();
      const bool ok = co_await stream_event(stream, req, sse, j);
      if (!ok) w->client_gone = true;
    }
    if (w->client_gone || w->overflowed || w->pending == 0 || w->done) co_return;
    const auto now = std::chrono::steady_clock::now();
    const bool ping = keep_alive && w->deadline - now > keepalive_every;
    // notify() ends the wait (operation_aborted); its end, when it has one,
    // too (success), as a timer does the other waits on `wake`.
    const auto until = ping ? now + keepalive_every : w->deadline;
    w->session = this;
    w->wait_until = until;
    if (ping) {
      w->wake_armed = true;
      w->wake.expires_at(until);
      w->wake.async_wait([wk = std::weak_ptr<waiter>(w)](error_code tec) {
        if (auto s = wk.lock(); s && !tec) s->resume.fire({}, true);
      });
    } else if (until != std::chrono::steady_clock::time_point::max()) {
      arm_deadlines(until);  // await_answers' waiters are in posts_, where on_deadlines looks
    }
    auto [ec] = co_await w->resume.wait(net::as_tuple(net::use_awaitable));
    w->wait_until = std::chrono::steady_clock::time_point::max();
    w->wake_armed = false;
    if (!ec && ping && w->q.empty() && std::chrono::steady_clock::now() < w->deadline) {
      if (!co_await keep_alive_comment(stream, req, sse)) w->client_gone = true;
      continue;
    }
    if (!ec && timed && std::chrono::steady_clock::now() >= w->deadline) {
      session_counters::add(n_.timeouts);
      log_.warn("session " + id() + ": request timed out after " +
                std::to_string(cfg_.request_timeout.count()) + " ms");
      const std::string why = "upstream request timed out after " +
                              std::to_string(cfg_.request_timeout.count()) + " ms";
      for (const auto& id : w->ids)
        if (by_id_.count(id) > 0 && by_id_[id] == w)
          w->responses.push_back(
              make_error_response(client_id_of(w, id), rpc_error::upstream_error, why));
      co_return;  // forget() tells the server to stop working on them
    }
  }
}

net::awaitable<bool> http_session::serve_post(beast::tcp_stream& stream, conn_buffer& buf,
                                              const http_request& req, message msg,
                                              bool accept_sse) {
  rec_.touch();
  if (auto auth = req.find(http::field::authorization); auth != req.end())
    upstream_->set_client_authorization(auth->value());
  if (!closing_ && !rec_.hook(direction::client_to_server, msg.raw))
    do_close(close_cause::callback, hook_abort_reason);  // answered 404 below
  n_.client_to_server(msg.raw.size());
  if (closing_) {  // raced with the end of the session: it is gone for this client
    co_return co_await reply_now(stream, req, http::status::not_found,
                                 make_error_response({}, -32001, "Session not found"));
  }

  auto w = std::make_shared<waiter>(strand_, cfg_.stream_buffer_bytes);
  w->accept_sse = accept_sse;
  bool resumed = false;  // bridged: an MRTR retry that took over its waiting call
  if (transport_ == session_transport::stateless) {
    const bool modern = co_await settle_era();
    if (closing_)
      co_return co_await reply_now(
          stream, req, http::status::ok,
          make_error_response(msg.info.id, rpc_error::upstream_error, close_reason_));
    if (!modern && !co_await bridge_open(msg))
      co_return co_await reply_now(
          stream, req, http::status::bad_request,
          make_rejection_response(msg.info.id, legacy_only_rejection(latest_modern_version)));
    if (msg.info.kind == message_kind::notification) {  // the router lets only cancels through
      forward_cancel(msg);
      co_return co_await reply_now(stream, req, http::status::accepted, {});
    }
    if (bridged_ && msg.info.method == "subscriptions/listen")
      co_return co_await bridge_listen(stream, buf, req, w, msg);
    if (bridged_) {
      bridge_step step = co_await bridge_admit(w, msg);
      if (!step.reply.empty())
        co_return co_await reply_now(stream, req, step.status, std::move(step.reply));
      resumed = step.resumed;
    } else if (msg.info.method == "tools/call") {
      std::optional<std::string> refused = co_await check_param_headers_of(req, msg);
      if (refused)
        co_return co_await reply_now(stream, req, http::status::bad_request, std::move(*refused));
    }
  }

  std::vector<message> parts;
  if (msg.info.kind == message_kind::batch) {
    // Upstream servers get single messages (the SDKs' stdio servers do not
    // answer a batch line); the answers are gathered into one batch reply.
    if (!batches_allowed(rec_.protocol_version())) {
      session_counters::add(n_.invalid);
      co_return co_await reply_now(
          stream, req, http::status::bad_request,
          make_error_response({}, rpc_error::invalid_request,
                              batches_removed_text(rec_.protocol_version())));
    }
    w->batch = true;
    if (!split_batch(msg, parts)) {
      co_return co_await reply_now(
          stream, req, http::status::bad_request,
          make_error_response({}, rpc_error::parse_error, batch_split_text));
    }
  } else {
    parts.push_back(std::move(msg));
  }

  if (transport_ == session_transport::legacy_sse) {
    // HTTP+SSE: accepted now; every answer flows on the session's stream.
    for (const auto& m : parts) {
      rec_.client_request(m.info);
      legacy_request(m.info);
    }
    for (auto& m : parts) co_await upstream_->send(std::move(m));
    co_return co_await reply_now(stream, req, http::status::accepted, {});
  }
  if (!resumed && !admit_requests(w, parts)) {
    co_return co_await reply_now(stream, req, http::status::bad_request,
                                 std::move(w->responses.front()));
  }
  // However this coroutine ends (an exception included), its requests stop
  // counting as in flight, or the session could never be reaped.
  struct forget_on_exit {
    std::weak_ptr<http_session> s;
    waiter_ptr w;
    ~forget_on_exit() {
      if (auto self = s.lock()) self->forget(w, request_outcome::closed, "mcpfwd internal error");
    }
  } guard{weak_from_this(), w};
  if (!resumed)
    for (auto& m : parts) co_await upstream_->send(std::move(m));

  bool sse = false;
  if (w->pending > 0) co_await await_answers(stream, req, w, sse, &buf);
  if (w->overflowed) {  // (its pending write cancelled: client_gone may be set too)
    log_.warn("session " + id() + ": a client fell " + std::to_string(cfg_.stream_buffer_bytes) +
              " bytes behind on its answer stream (--stream-buffer-bytes): ending that stream");
  } else if (w->client_gone) {
    log_.info("session " + id() + ": the client of a request in flight went away: cancelling it");
  }
  const bool abandoned = w->client_gone || w->overflowed;
  if (abandoned)
    forget(w, request_outcome::abandoned, "the client went away");
  else
    forget(w, request_outcome::timeout, "timed out in mcpfwd");
  rec_.touch();
  // The last request of a draining session has been answered: close now
  // (after this response is written, below, since closing does not touch it).
  if (draining_ && posts_.empty() && legacy_pending_.empty())
    do_close(close_cause::shutdown, "proxy shutting down");
  co_await stop_watching(stream, w);
  if (abandoned) co_return false;

  if (w->ids.empty() && w->responses.empty())  // notifications and responses only
    co_return co_await reply_now(stream, req, http::status::accepted, {});
  std::string body;
  if (w->batch) {
    body = join_batch(w->responses);
  } else if (!w->responses.empty()) {
    body = std::move(w->responses.front());
  }
  if (sse) {
    bool ok = co_await stream_event(stream, req, sse, body);
    if (ok) ok = !(co_await write_last_chunk(stream));
    co_return ok&& req.keep_alive();
  }
  n_.server_to_client(body.size());
  const http::status st =
      transport_ == session_transport::stateless ? modern_status(body) : http::status::ok;
  co_return co_await reply_now(stream, req, st, std::move(body));
}

// --------------------------------------------------- the stateless era

const std::string& http_session::client_id_of(const waiter_ptr& w, const std::string& up) const {
  return transport_ == session_transport::stateless && !w->client_id.empty() ? w->client_id : up;
}

net::awaitable<bool> http_session::keep_alive_comment(beast::tcp_stream& stream,
                                                      const http_request& req, bool& sse) {
  if (!sse) {
    const bool keep = req.keep_alive();
    const bool head_ok = co_await write_sse_head(stream, req, keep);
    if (!head_ok) co_return false;
    sse = true;
  }
  co_return !(co_await write_chunk(stream, ": keep-alive\n\n"));
}

net::awaitable<bool> http_session::settle_era() {
  if (verdict_.load() == era_verdict::unknown && cfg_.era == upstream_era::modern) {
    verdict_.store(era_verdict::modern);
    rec_.set_protocol_version(std::string(latest_modern_version));
  }
  if (verdict_.load() == era_verdict::unknown) {
    // Probe this instance before it serves anything (ST §Backward
    // Compatibility): an SDK server locks its era on the first request it
    // reads, so the probe is that first request.
    verdict_.store(era_verdict::probing);
    const std::string answer = co_await own_request("server/discover", {}, probe_timeout);
    const bool answered = !answer.empty();
    const bool modern = answered && probe_says_modern(answer);
    verdict_.store(modern ? era_verdict::modern : era_verdict::legacy);
    if (modern) rec_.set_protocol_version(std::string(latest_modern_version));
    log_.info(
        "session " + id() + ": the upstream " +
        (modern
             ? std::string("serves the stateless era (") + std::string(latest_modern_version) + ")"
         : answered
             ? std::string("serves only the session era (its server/discover answer names no "
                           "modern version)")
             : std::string("did not answer server/discover: taken for a session-era server")));
    for (auto* t : era_waiters_) t->cancel();
    era_waiters_.clear();
  }
  while (verdict_.load() == era_verdict::probing && !closing_) {
    net::steady_timer t(strand_, probe_timeout);
    era_waiters_.push_back(&t);
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
    std::erase(era_waiters_, &t);
  }
  co_return verdict_.load() == era_verdict::modern;
}

net::awaitable<std::string> http_session::own_request(std::string method, json::object params,
                                                      std::chrono::steady_clock::duration timeout) {
  const std::string up = std::to_string(next_upstream_id_++);
  if (!bridged_) {  // a bridged upstream is spoken to in the session era
    json::object meta;
    meta[meta_protocol_version] = latest_modern_version;
    meta[meta_client_capabilities] = json::object();
    meta[meta_client_info] = json::object{{"name", "mcpfwd"}, {"version", "internal"}};
    params["_meta"] = std::move(meta);
  }
  json::object req{{"jsonrpc", "2.0"}, {"id", json::parse(up)}, {"method", method}};
  req["params"] = std::move(params);
  message m;
  classify_error err;
  if (!classify(json::serialize(req), m, err)) co_return std::string();
  auto w = std::make_shared<waiter>(strand_, cfg_.stream_buffer_bytes);
  w->client_id = up;
  w->own = true;
  w->ids.push_back(up);
  w->pending = 1;
  by_id_[up] = w;
  n_.in_flight.fetch_add(1);
  probe_ = w;  // ended by do_close like the era probe
  co_await upstream_->send(std::move(m));
  w->deadline = std::chrono::steady_clock::now() + timeout;
  while (w->pending > 0 && !w->done && std::chrono::steady_clock::now() < w->deadline) {
    w->wake.expires_at(w->deadline);
    co_await w->wake.async_wait(net::as_tuple(net::use_awaitable));
  }
  const bool answered = w->pending == 0 && !w->done && !w->responses.empty();
  unmap(up, w, request_outcome::ok);  // its own: not a client's, not counted
  if (probe_ == w) probe_.reset();
  co_return answered ? std::move(w->responses[0]) : std::string();
}

net::awaitable<void> http_session::learn_tools() {
  if (learning_tools_) {  // another request is learning them: wait for it
    while (learning_tools_ && !closing_) {
      net::steady_timer t(strand_, probe_timeout);
      era_waiters_.push_back(&t);
      co_await t.async_wait(net::as_tuple(net::use_awaitable));
      std::erase(era_waiters_, &t);
    }
    co_return;
  }
  learning_tools_ = true;
  std::unordered_map<std::string, std::vector<param_header>> found;
  std::string cursor;
  bool complete = false;
  for (int page = 0; page < 64 && !closing_; ++page) {
    json::object params;
    if (!cursor.empty()) params["cursor"] = cursor;
    const std::string answer = co_await own_request("tools/list", std::move(params), probe_timeout);
    boost::system::error_code ec;
    const json::value v = answer.empty() ? json::value() : json::parse(answer, ec);
    const json::value* result =
        !ec && v.is_object() ? v.as_object().if_contains("result") : nullptr;
    const json::value* tools =
        result && result->is_object() ? result->as_object().if_contains("tools") : nullptr;
    if (tools == nullptr || !tools->is_array()) break;
    for (const auto& t : tools->as_array()) {
      if (!t.is_object()) continue;
      const auto* name = t.as_object().if_contains("name");
      const auto* schema = t.as_object().if_contains("inputSchema");
      if (name && name->is_string() && schema)
        found[std::string(name->as_string())] = header_params(*schema);
    }
    const auto* next = result->as_object().if_contains("nextCursor");
    if (next == nullptr || !next->is_string() || next->as_string().empty()) {
      complete = true;
      break;
    }
    cursor = std::string(next->as_string());
  }
  if (complete) {
    tool_params_ = std::move(found);
    tools_known_ = true;
  } else {
    log_.warn("session " + id() +
              ": cannot read the upstream's tool list: Mcp-Param headers are not checked");
  }
  learning_tools_ = false;
  for (auto* t : era_waiters_) t->cancel();
}

net::awaitable<std::optional<std::string>> http_session::check_param_headers_of(
    const http_request& req, const message& msg) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& f : req)
    if (f.name_string().size() > 10 && beast::iequals(f.name_string().substr(0, 10), "Mcp-Param-"))
      headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  if (!tools_known_) co_await learn_tools();
  if (!tools_known_) co_return std::nullopt;  // unknown: forwarded unchecked (logged)
  boost::system::error_code ec;
  const json::value v = json::parse(msg.raw, ec);
  if (ec || !v.is_object()) co_return std::nullopt;
  const auto* params = v.as_object().if_contains("params");
  if (params == nullptr || !params->is_object()) co_return std::nullopt;
  const auto* name = params->as_object().if_contains("name");
  const auto* args = params->as_object().if_contains("arguments");
  if (name == nullptr || !name->is_string()) co_return std::nullopt;
  auto it = tool_params_.find(std::string(name->as_string()));
  static const std::vector<param_header> none;
  const auto& declared = it == tool_params_.end() ? none : it->second;
  auto rej = check_param_headers(declared, args && args->is_object() ? &args->as_object() : nullptr,
                                 headers);
  if (!rej) co_return std::nullopt;
  session_counters::add(n_.invalid);
  co_return make_rejection_response(msg.info.id, *rej);
}

void http_session::rewrite_for_upstream(const waiter_ptr& w, message& m) {
  const std::string up = std::to_string(next_upstream_id_++);
  const bool has_token = !m.info.progress_token.empty();
  w->client_id = m.info.id;
  w->client_token = m.info.progress_token;
  w->method = static_cast<std::uint8_t>(method_index(m.info.method));
  w->listen = m.info.method == "subscriptions/listen";
  std::string raw = with_request_id(m.raw, up, has_token ? up : std::string());
  if (!raw.empty()) m.raw = std::move(raw);
  m.info.id = up;
  w->ids.push_back(up);
  ++w->pending;
  by_id_[up] = w;
  if (has_token) {
    m.info.progress_token = up;
    w->tokens.push_back(up);
    by_token_[up] = w;
  }
}

void http_session::forward_cancel(const message& m) {
  // Over HTTP a modern client cancels by closing its stream; a cancellation
  // it posts names its own id, which is forwarded only when exactly one
  // request in flight on this instance has that id (clients of a shared key
  // may use the same ids).
  waiter_ptr match;
  int matches = 0;
  for (const auto& w : posts_)
    if (!w->client_id.empty() && w->client_id == m.info.cancels) {
      match = w;
      ++matches;
    }
  if (matches != 1 || match->ids.empty()) {
    log_.debug("session " + id() + ": a cancellation of id " + m.info.cancels + " matches " +
               std::to_string(matches) + " requests in flight: not forwarded");
    return;
  }
  std::string raw = with_cancelled_id(m.raw, match->ids.front());
  if (!raw.empty()) upstream_->send_now(std::move(raw));
}

void http_session::route_stateless(message msg) {
  const message_info& mi = msg.info;
  if (mi.kind == message_kind::response || mi.kind == message_kind::error) {
    auto it = by_id_.find(mi.id);
    if (it == by_id_.end()) {
      if (bridged_ && bridge_route(msg)) return;  // the answer to a call waiting for input
      log_.debug("session " + id() + ": dropped a response to no request in flight, id " + mi.id);
      return;
    }
    waiter_ptr w = it->second;
    unmap(mi.id, w, mi.kind == message_kind::error ? request_outcome::error : request_outcome::ok);
    if (bridged_ && !w->own) msg.raw = bridge_response_to_modern(msg.raw, w->method_name);
    std::string raw =
        w->client_id == mi.id ? std::move(msg.raw) : with_response_id(msg.raw, w->client_id);
    w->responses.push_back(std::move(raw));
    w->notify();
    return;
  }
  if (mi.kind == message_kind::request && bridged_) {  // becomes an input_required result
    bridge_server_request(msg);
    return;
  }
  if (mi.kind == message_kind::request) {  // the stateless era has none
    session_counters::add(n_.server_invalid);
    log_.warn("session " + id() + ": the server sent a request (" + mi.method +
              "), which the stateless era does not have: refused");
    upstream_->send_now(make_error_response(
        mi.id, rpc_error::method_not_found,
        "mcpfwd: server-to-client requests do not exist in " + std::string(latest_modern_version)));
    return;
  }
  if (mi.method == "notifications/tools/list_changed") {
    tools_known_ = false;  // the Mcp-Param annotations are learned again when next needed
    tool_params_.clear();
  }
  if (bridged_ && bridge_route(msg)) return;  // a listen stream's, or a server's cancel
  // A notification: to the one request it is about, never to another.
  waiter_ptr w;
  std::string raw;
  if (!mi.progress_token.empty()) {
    if (auto it = by_token_.find(mi.progress_token); it != by_token_.end()) {
      w = it->second;
      raw = with_progress_token(msg.raw, w->client_token);
      if (cfg_.request_timeout.count() > 0 && !w->listen)
        w->deadline = std::chrono::steady_clock::now() + cfg_.request_timeout;
    }
  } else if (std::string sub = subscription_id_of(msg.raw); !sub.empty()) {
    if (auto it = by_id_.find(sub); it != by_id_.end()) {
      w = it->second;
      raw = with_subscription_id(msg.raw, w->client_id);
    }
  } else if (posts_.size() == 1) {
    // Nothing names its request (a log line, say): only when one request is
    // in flight can it be told whose it is.
    w = posts_.front();
    raw = std::move(msg.raw);
  }
  if (!w || !w->accept_sse || raw.empty()) {
    n_.dropped.fetch_add(1);
    log_.debug("session " + id() + ": dropped a server notification (" + mi.method +
               ") that no request in flight can be told to own");
    return;
  }
  msg.raw = std::move(raw);
  to_stream(w, msg);
}

// ------------------------------------------------------------ event streams

net::awaitable<void> http_session::serve_get(beast::tcp_stream& stream, const http_request& req) {
  co_await stream_out(stream, req, {});
}

net::awaitable<void> http_session::serve_legacy_stream(beast::tcp_stream& stream,
                                                       const http_request& req,
                                                       std::string endpoint) {
  co_await stream_out(stream, req, "event: endpoint\ndata: " + endpoint + "\n\n");
  // In HTTP+SSE the session lives as long as its stream.
  do_close(close_cause::client_disconnect, "the SSE client disconnected");
}

net::awaitable<void> http_session::stream_out(beast::tcp_stream& stream, const http_request& req,
                                              std::string prelude) {
  rec_.touch();
  if (get_stream_) {  // the newest GET stream wins; the old one ends cleanly
    get_stream_->done = true;
    get_stream_->notify();
  }
  auto w = std::make_shared<waiter>(strand_, cfg_.stream_buffer_bytes);
  get_stream_ = w;
  w->stream = &stream;
  struct unstream_on_exit {
    waiter* w;
    ~unstream_on_exit() { w->stream = nullptr; }
  } unstream_guard{w.get()};
  n_.open_streams.fetch_add(1);
  const bool numbered = transport_ == session_transport::streamable_http;
  // Resumption (Streamable HTTP only): events sent after Last-Event-ID are
  // sent again, with their ids, from the bounded replay buffer; then what
  // was never sent.
  std::vector<std::pair<std::uint64_t, std::string>> replay;
  if (numbered) {
    if (auto h = req.find("Last-Event-ID"); h != req.end()) {
      const std::uint64_t last = parse_get_event_id(h->value());
      if (last > 0) {
        for (const auto& [seq, json] : sent_)
          if (seq > last) replay.emplace_back(seq, json);
        if (!replay.empty()) replayed_through_ = std::max(replayed_through_, replay.back().first);
        const std::uint64_t oldest = sent_.empty() ? get_seq_ + 1 : sent_.front().first;
        if (last + 1 < oldest) {
          const std::uint64_t lost_n = oldest - last - 1;
          n_.dropped.fetch_add(lost_n);
          log_.warn("session " + id() + ": resumed after event g" + std::to_string(last) + " but " +
                    std::to_string(lost_n) + " later event(s) are beyond the replay buffer of " +
                    std::to_string(replay_limit) + ": resending what is kept");
        }
      }
    }
  }
  while (!buffer_.empty()) w->q.push_evicting(buffer_.pop_front());  // same bound: fits

  bool ok = co_await write_sse_head(stream, req, false);
  if (ok && !prelude.empty()) ok = !(co_await write_chunk(stream, prelude));
  for (std::size_t i = 0; ok && i < replay.size(); ++i) {
    const std::string ev = sse_event(replay[i].second, "g" + std::to_string(replay[i].first));
    ok = !(co_await write_chunk(stream, ev));
  }
  if (ok) watch_client(stream, nullptr, w);
  std::string unsent;  // a message whose write failed: kept for the next stream
  while (ok) {
    while (!w->q.empty() && ok && !w->overflowed) {
      std::string j = w->q.pop_front();
      const std::size_t size = j.size();
      // Numbered and kept for resumption before the write: the client may have
      // read the event, and come back with its id, before this coroutine
      // resumes from the write.
      const std::uint64_t seq = numbered ? ++get_seq_ : 0;
      const std::string ev = seq ? sse_event(j, "g" + std::to_string(seq)) : sse_event(j);
      if (seq) sent_.push_evicting({seq, std::move(j)});
      if (co_await write_chunk(stream, ev)) {
        ok = false;
        unsent = seq ? take_unsent(seq) : std::move(j);
        break;
      }
      n_.server_to_client(size);
    }
    if (!ok || w->done || w->overflowed || w->client_gone) break;
    w->wake.expires_after(keepalive_every);
    auto [ec] = co_await w->wake.async_wait(net::as_tuple(net::use_awaitable));
    if (!ec && w->q.empty() && !w->done) {  // quiet for a while: probe the client
      if (co_await write_chunk(stream, ": keepalive\n\n")) ok = false;
    }
  }
  if (w->overflowed) {
    log_.warn("session " + id() + ": the client fell " + std::to_string(cfg_.stream_buffer_bytes) +
              " bytes behind on its event stream (--stream-buffer-bytes): ending the stream");
    ok = false;
  } else {
    // Not delivered: kept (bounded) for the next stream, or handed to the
    // newer stream that ended this one (it took the buffer when it opened).
    const bool newer = get_stream_ && get_stream_ != w && !get_stream_->overflowed;
    auto& to = newer ? get_stream_->q : buffer_;
    if (!unsent.empty() && to.push_evicting(std::move(unsent)) > 0) n_.dropped.fetch_add(1);
    while (!w->q.empty()) {
      if (to.push_evicting(w->q.pop_front()) > 0) n_.dropped.fetch_add(1);
    }
    if (newer) get_stream_->notify();
  }
  if (get_stream_ == w) get_stream_.reset();
  n_.open_streams.fetch_sub(1);
  rec_.touch();
  if (ok && !w->client_gone) co_await write_last_chunk(stream);
  co_await stop_watching(stream, w);
}

std::string http_session::take_unsent(std::uint64_t seq) {
  // Event `seq` was not written. A newer stream that resumed from before it
  // has resent it already; otherwise it goes to the next stream, and out of
  // the replay buffer when nothing was numbered after it.
  if (replayed_through_ >= seq) return {};
  if (!sent_.empty() && sent_.back().first == seq) {
    if (get_seq_ == seq) --get_seq_;  // the next event takes its number
    return sent_.pop_back().second;
  }
  for (const auto& [s, json] : sent_)
    if (s == seq) return json;
  return {};  // evicted from the replay buffer already
}

net::awaitable<bool> http_session::serve_delete(beast::tcp_stream& stream,
                                                const http_request& req) {
  do_close(close_cause::client_delete, "session deleted by the client");
  co_return co_await reply_now(stream, req, http::status::ok, {});
}

// ------------------------------------------------------------------ ending

void http_session::close(close_cause cause, std::string reason) {
  net::post(strand_, [self = shared_from_this(), cause, r = std::move(reason)] {
    self->do_close(cause, r);
  });
}

void http_session::drain(std::chrono::milliseconds deadline) {
  net::post(strand_, [self = shared_from_this(), deadline] {
    if (self->closing_ || self->draining_) return;
    self->draining_ = true;
    self->rec_.set_state(session_state::draining);
    if (self->posts_.empty() && self->legacy_pending_.empty()) {
      self->do_close(close_cause::shutdown, "proxy shutting down");
      return;
    }
    self->log_.info("session " + self->id() + ": waiting up to " +
                    std::to_string(deadline.count()) + " ms for " +
                    std::to_string(self->n_.in_flight.load()) + " request(s) in flight");
    auto t = std::make_shared<net::steady_timer>(self->strand_, deadline);
    t->async_wait([self, t](error_code) {
      self->do_close(close_cause::shutdown,
                     "proxy shutting down: the drain deadline passed before the upstream answered");
    });
  });
}

void http_session::do_close(close_cause cause, const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  cause_ = cause;
  metrics_.closed(cause);
  close_reason_ = reason;
  rec_.set_state(session_state::draining);
  if (on_closed_) on_closed_(id(), reason, false);  // from now on the id answers 404
  for (auto& w : posts_) {
    for (const auto& id : w->ids)
      if (unmap(id, w, request_outcome::closed))
        w->responses.push_back(
            make_error_response(client_id_of(w, id), rpc_error::upstream_error, reason));
    w->done = true;
    w->notify();
  }
  by_token_.clear();
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, p] : legacy_pending_) {
    metrics_.request_done(p.method, request_outcome::closed, now - p.start);
    // A legacy client waits on its event stream: tell it why, as for a POST.
    if (get_stream_ && !get_stream_->overflowed)
      get_stream_->q.try_push(make_error_response(id, rpc_error::upstream_error, reason));
  }
  legacy_pending_.clear();
  if (probe_) {
    probe_->done = true;
    probe_->notify();
  }
  for (auto* t : era_waiters_) t->cancel();
  if (bridge_) bridge_close();
  if (get_stream_) {
    get_stream_->done = true;
    get_stream_->notify();
  }
  upstream_->stop(cfg_.shutdown_grace, shared_from_this());
}

// ---------------------------------------------------------- server messages

void http_session::lost(const message& msg) {
  if (n_.dropped.fetch_add(1) == 0 || log_.enabled(log_level::debug))
    log_.warn("session " + id() + ": a server message was lost (the client's stream fell behind " +
              "or no stream was open for too long)");
  // A server request nobody will see must not leave the server waiting.
  if (msg.info.kind == message_kind::request)
    upstream_->send_now(make_error_response(
        msg.info.id, rpc_error::upstream_error,
        "mcpfwd: the client's stream fell behind (--stream-buffer-bytes); request dropped"));
}

bool http_session::to_stream(const waiter_ptr& w, message& msg) {
  if (w->overflowed) {
    lost(msg);
    return false;
  }
  if (w->q.try_push(std::move(msg.raw))) {
    w->notify();
    return true;
  }
  // Over the bound: the stream ends; what it held is lost, counted. A write
  // pending to that client is cancelled (the connection then closes).
  w->overflowed = true;
  n_.dropped.fetch_add(w->q.size());
  w->q.clear();
  lost(msg);
  if (w->stream != nullptr) {
    error_code ignored;
    w->stream->socket().cancel(ignored);
  }
  w->notify();
  return false;
}

void http_session::to_event_stream(message msg) {
  if (get_stream_ && !get_stream_->overflowed) {
    to_stream(get_stream_, msg);
    return;
  }
  if (buffer_.push_evicting(std::move(msg.raw)) > 0 && n_.dropped.fetch_add(1) == 0)
    log_.warn("session " + id() + ": no stream open and the buffer of " +
              std::to_string(cfg_.stream_buffer_bytes) +
              " bytes of server messages is full: dropping the oldest");
}

void http_session::route(message msg) {
  rec_.touch();
  if (msg.info.kind == message_kind::batch) {
    // A server's batch (2025-03-26), e.g. the answers to a client's batch:
    // each element goes where it belongs.
    std::vector<message> parts;
    if (!split_batch(msg, parts)) {
      session_counters::add(n_.server_invalid);
      log_.warn("session " + id() + ": dropped a server batch that cannot be split");
      return;
    }
    for (auto& one : parts) route(std::move(one));
    return;
  }
  const message_info& mi = msg.info;
  const bool answer = mi.kind == message_kind::response || mi.kind == message_kind::error;
  if (answer) rec_.server_answer(mi, msg.raw);
  if (transport_ == session_transport::stateless) {
    route_stateless(std::move(msg));
    return;
  }
  if (transport_ == session_transport::legacy_sse) {
    if (answer) legacy_answer(mi);
    to_event_stream(std::move(msg));
    // The last answer a draining session waited for is queued: close now
    // (the event stream writes what it holds before it ends).
    if (answer && draining_ && legacy_pending_.empty() && posts_.empty())
      do_close(close_cause::shutdown, "proxy shutting down");
    return;
  }
  if (answer) {
    auto it = by_id_.find(mi.id);
    if (it == by_id_.end()) {
      log_.debug("session " + id() + ": dropped a response to no request in flight, id " + mi.id);
      return;
    }
    waiter_ptr w = it->second;
    unmap(mi.id, w, mi.kind == message_kind::error ? request_outcome::error : request_outcome::ok);
    w->responses.push_back(std::move(msg.raw));
    w->notify();
    return;
  }
  // A notification or a server-to-client request: to the POST it belongs to
  // (by progress token, else the newest POST in flight) if that client takes
  // a stream, else to the GET stream, else into the bounded buffer.
  waiter_ptr w;
  if (!mi.progress_token.empty()) {
    if (auto it = by_token_.find(mi.progress_token); it != by_token_.end()) {
      w = it->second;
      // The server is working on it: its request is not timed out meanwhile.
      if (cfg_.request_timeout.count() > 0)
        w->deadline = std::chrono::steady_clock::now() + cfg_.request_timeout;
    }
  }
  if (!w && !posts_.empty()) w = posts_.back();
  if (w && w->accept_sse && !w->overflowed) {
    to_stream(w, msg);
    return;
  }
  to_event_stream(std::move(msg));
}

net::awaitable<void> http_session::on_server_message(message msg) {
  on_server_message_now(std::move(msg));
  co_return;
}

void http_session::waiter::notify() {
  if (!resume.armed()) {
    wake.cancel();  // a wait on the timer itself, if any
    return;
  }
  if (session != nullptr && session->delivering_ > 0) {
    if (!queued) {
      queued = true;
      session->resumes_.push_back(shared_from_this());
    }
    return;
  }
  if (wake_armed) wake.cancel();
  resume.fire(net::error::operation_aborted, false);
}

void http_session::arm_deadlines(std::chrono::steady_clock::time_point at) {
  // Armed for no later than `at`: it looks again then. Deadlines are a fixed
  // time after their request, so this is the usual case: nothing to do.
  if (deadlines_at_ <= at) return;
  if (!deadlines_) deadlines_ = std::make_unique<net::steady_timer>(strand_);
  deadlines_at_ = at;
  deadlines_->expires_at(at);  // a pending wait ends (aborted) and is replaced
  deadlines_->async_wait([weak = weak_from_this()](error_code ec) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->deadlines_at_ = std::chrono::steady_clock::time_point::max();
    self->on_deadlines();
  });
}

void http_session::on_deadlines() {
  const auto now = std::chrono::steady_clock::now();
  auto next = std::chrono::steady_clock::time_point::max();
  for (const auto& w : posts_) {
    if (!w->resume.armed() || w->wake_armed) continue;
    if (w->wait_until <= now)
      w->resume.fire({}, false);  // posted: the loop goes on over posts_
    else
      next = std::min(next, w->wait_until);
  }
  if (next != std::chrono::steady_clock::time_point::max()) arm_deadlines(next);
}

// The end of one read's deliveries (stdio_upstream::on_stdout): the requests
// they answered resume here, in this call when `now`: the coroutine writes
// its reply before the reader re-arms and before the scheduler polls again.
void http_session::deliveries_end(bool now) {
  if (--delivering_ > 0) return;
  for (std::size_t i = 0; i < resumes_.size(); ++i) {
    const waiter_ptr w = std::move(resumes_[i]);
    w->queued = false;
    if (w->wake_armed) w->wake.cancel();
    w->resume.fire(net::error::operation_aborted, now);
  }
  resumes_.clear();
}

void http_session::on_server_message_now(message msg) {
  if (!closing_ && !rec_.hook(direction::server_to_client, msg.raw)) {
    do_close(close_cause::callback, hook_abort_reason);
    return;
  }
  route(std::move(msg));
}

void http_session::on_server_rejected(const classify_error* err, std::string_view) {
  session_counters::add(err ? n_.server_invalid : n_.server_oversize);
  log_.warn("session " + id() + ": " +
            (err ? "dropped a server line that is not JSON-RPC (" + err->message + ")"
                 : std::string("dropped a server message over the size limit")));
}

net::awaitable<void> http_session::supervise() {
  // What the server wrote before exiting is routed first.
  const std::chrono::steady_clock::duration drain = upstream_drain;
  upstream_end end = co_await upstream_->wait_end(drain);
  if (!closing_) {
    log_.warn("session " + id() + ": " + end.description);
    do_close(close_cause::upstream_ended, end.description + " before responding");
  }
  bump(metrics_.upstream_exits[static_cast<std::size_t>(classify_exit(end.raw_status))]);
  upstream_->close();
  rec_.ended(std::move(end.status));
  rec_.set_state(session_state::closed);
  const std::string snap = snapshot_json();
  log_.event(log_level::info, "session_closed",
             "session " + id() + " closed (" + close_reason_ + "): " + snap,
             std::string(R"({"reason":")") + to_string(cause_) + R"(","detail":)" +
                 json::serialize(json::value(close_reason_)) + R"(,"session":)" + snap + "}");
  if (on_closed_) on_closed_(id(), close_reason_, true);  // upstream reaped
}

}  // namespace mcpfwd
