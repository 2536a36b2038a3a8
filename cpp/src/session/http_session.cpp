#include "session/http_session.hpp"

#include <signal.h>

#include "base/errors.hpp"

namespace mcpfwd {

const char* to_string(http_session::state s) noexcept {
  switch (s) {
    case http_session::state::starting: return "starting";
    case http_session::state::ready: return "ready";
    case http_session::state::draining: return "draining";
    case http_session::state::closed: return "closed";
  }
  return "?";
}

namespace {

constexpr auto write_timeout = std::chrono::seconds(30);
constexpr auto keepalive_every = std::chrono::seconds(15);

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
std::int64_t wall_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
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

}  // namespace

// One HTTP exchange waiting for messages: a POST waiting for its response(s)
// (and, when the client accepts SSE, the messages related to it), or the GET
// stream. Only touched on the session strand.
struct http_session::waiter {
  explicit waiter(const net::any_io_executor& ex) : wake(ex) {}
  std::deque<std::string> q;           // messages to stream before the response
  std::vector<std::string> ids;        // request ids still unanswered
  std::vector<std::string> responses;  // final responses, in arrival order
  std::string token;                   // progress token of the request
  bool batch = false, accept_sse = false, done = false;
  net::steady_timer wake;
  void notify() { wake.cancel(); }
};

http_session::http_session(net::any_io_executor ex, std::string id,
                           const upstream_factory& make_upstream, http_session_options opts,
                           const logger& log, closed_fn on_closed)
    : strand_(net::make_strand(ex)),
      id_(std::move(id)),
      opts_(opts),
      log_(log),
      on_closed_(std::move(on_closed)),
      upstream_(make_upstream(strand_, "session " + id_ + ": ")),
      created_(std::chrono::system_clock::now()),
      last_activity_ns_(steady_ns()),
      last_activity_ms_(wall_ms(created_)) {}

http_session::~http_session() = default;

void http_session::start() {
  auto self = shared_from_this();
  auto detached = [](std::exception_ptr) {};
  state_ = state::ready;
  upstream_->start(self, *this);
  net::co_spawn(
      strand_, [self] { return self->supervise(); }, detached);
}

void http_session::touch() noexcept {
  last_activity_ns_.store(steady_ns(), std::memory_order_relaxed);
  last_activity_ms_.store(wall_ms(std::chrono::system_clock::now()), std::memory_order_relaxed);
}

bool http_session::idle_for(std::chrono::steady_clock::duration d) const noexcept {
  if (in_flight_.load() > 0 || open_streams_.load() > 0) return false;
  return steady_ns() - last_activity_ns_.load() >=
         std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

template <class Body>
void http_session::stamp(http::response<Body>& res, int, bool keep_alive) const {
  res.set(http::field::server, "mcpfwd");
  res.set("Mcp-Session-Id", id_);
  res.keep_alive(keep_alive);
}

net::awaitable<void> http_session::serve_post(beast::tcp_stream& stream, const http_request& req,
                                              message msg, bool accept_sse) {
  touch();
  if (auto auth = req.find(http::field::authorization); auth != req.end())
    upstream_->set_client_authorization(auth->value());
  if (opts_.on_message && !closing_ && !opts_.on_message(direction::client_to_server, id_, msg.raw))
    do_close("session aborted by the message callback");  // answered 404 below
  c2s_messages_.fetch_add(1, std::memory_order_relaxed);
  c2s_bytes_.fetch_add(msg.raw.size(), std::memory_order_relaxed);

  auto w = std::make_shared<waiter>(strand_);
  w->accept_sse = accept_sse;
  auto track = [&](const message_info& mi) {
    if (mi.kind != message_kind::request) return;
    w->ids.push_back(mi.id);
    by_id_[mi.id] = w;
    if (!mi.progress_token.empty()) {
      w->token = mi.progress_token;
      by_token_[mi.progress_token] = w;
    }
  };
  if (msg.info.kind == message_kind::batch) {
    w->batch = true;
    for (const auto& mi : msg.batch) track(mi);
  } else {
    track(msg.info);
    if (msg.info.kind == message_kind::request && msg.info.method == "initialize")
      init_id_ = msg.info.id;
  }
  const bool keep_alive = req.keep_alive();
  if (closing_) {
    // Raced with the end of the session: it is gone for this client.
    for (const auto& id : w->ids) by_id_.erase(id);
    http::response<http::string_body> res{http::status::not_found, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = make_error_response({}, -32001, "Session not found");
    res.prepare_payload();
    stamp(res, req.version(), keep_alive);
    stream.expires_after(write_timeout);
    co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
    co_return;
  }
  if (legacy_) {
    // HTTP+SSE: accepted now; the answers flow on the session's stream.
    for (const auto& id : w->ids) by_id_.erase(id);
    if (!w->token.empty()) by_token_.erase(w->token);
    co_await upstream_->send(std::move(msg));
    http::response<http::empty_body> res{http::status::accepted, req.version()};
    stamp(res, req.version(), keep_alive);
    res.prepare_payload();
    stream.expires_after(write_timeout);
    co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
    co_return;
  }
  const std::size_t n_requests = w->ids.size();
  in_flight_.fetch_add(static_cast<std::uint32_t>(n_requests));
  co_await upstream_->send(std::move(msg));

  if (n_requests == 0) {  // notifications and responses only
    http::response<http::empty_body> res{http::status::accepted, req.version()};
    stamp(res, req.version(), keep_alive);
    res.prepare_payload();
    stream.expires_after(write_timeout);
    co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
    co_return;
  }
  posts_.push_back(w);

  bool sse = false, broken = false;
  http::response<http::empty_body> head{http::status::ok, req.version()};
  http::response_serializer<http::empty_body> sr{head};
  const auto deadline = opts_.request_timeout.count() > 0
                            ? std::chrono::steady_clock::now() + opts_.request_timeout
                            : std::chrono::steady_clock::time_point::max();
  auto send_event = [&](const std::string& json) -> net::awaitable<bool> {
    if (!sse) {
      head.set(http::field::content_type, "text/event-stream");
      head.set(http::field::cache_control, "no-cache");
      head.set("X-Accel-Buffering", "no");
      stamp(head, req.version(), keep_alive);
      head.chunked(true);
      stream.expires_after(write_timeout);
      auto [ec, n] =
          co_await http::async_write_header(stream, sr, net::as_tuple(net::use_awaitable));
      (void)n;
      if (ec) co_return false;
      sse = true;
    }
    const std::string ev = sse_event(json);
    stream.expires_after(write_timeout);
    auto [ec, n] = co_await net::async_write(stream, http::make_chunk(net::buffer(ev)),
                                             net::as_tuple(net::use_awaitable));
    (void)n;
    if (!ec) {
      s2c_messages_.fetch_add(1, std::memory_order_relaxed);
      s2c_bytes_.fetch_add(json.size(), std::memory_order_relaxed);
    }
    co_return !ec;
  };

  for (;;) {
    while (!w->q.empty() && !broken) {
      std::string j = std::move(w->q.front());
      w->q.pop_front();
      if (!co_await send_event(j)) broken = true;
    }
    if (broken || w->ids.empty() || w->done) break;
    w->wake.expires_at(deadline);
    auto [ec] = co_await w->wake.async_wait(net::as_tuple(net::use_awaitable));
    if (!ec && !w->ids.empty()) {  // the deadline passed
      errors_.fetch_add(1, std::memory_order_relaxed);
      log_.warn("session " + id_ + ": request timed out after " +
                std::to_string(opts_.request_timeout.count()) + " ms");
      for (const auto& id : w->ids) {
        w->responses.push_back(
            make_error_response(id, rpc_error::upstream_error,
                                "upstream request timed out after " +
                                    std::to_string(opts_.request_timeout.count()) + " ms"));
        // Tell the server to stop working on it.
        upstream_->send_now(
            R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" + id +
            R"(,"reason":"timed out in mcpfwd"}})");
      }
      break;
    }
  }
  // Forget this POST: late responses for its ids are dropped.
  for (const auto& id : w->ids) {
    if (auto it = by_id_.find(id); it != by_id_.end() && it->second == w) by_id_.erase(it);
  }
  in_flight_.fetch_sub(static_cast<std::uint32_t>(w->ids.size()));
  w->ids.clear();
  if (!w->token.empty()) {
    if (auto it = by_token_.find(w->token); it != by_token_.end() && it->second == w)
      by_token_.erase(it);
  }
  posts_.remove(w);
  touch();
  // The last request of a draining session has been answered: close now
  // (after this response is written, below, since closing does not touch it).
  if (draining_ && posts_.empty()) do_close("proxy shutting down");
  if (broken) co_return;  // the client is gone; the session carries on

  std::string body;
  if (w->batch) {
    body = "[";
    for (std::size_t i = 0; i < w->responses.size(); ++i) {
      if (i) body += ',';
      body += w->responses[i];
    }
    body += ']';
  } else if (!w->responses.empty()) {
    body = std::move(w->responses.front());
  }
  if (sse) {
    if (co_await send_event(body)) {
      stream.expires_after(write_timeout);
      co_await net::async_write(stream, http::make_chunk_last(), net::as_tuple(net::use_awaitable));
    }
    co_return;
  }
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::content_type, "application/json");
  stamp(res, req.version(), keep_alive);
  s2c_messages_.fetch_add(1, std::memory_order_relaxed);
  s2c_bytes_.fetch_add(body.size(), std::memory_order_relaxed);
  res.body() = std::move(body);
  res.prepare_payload();
  stream.expires_after(write_timeout);
  co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
}

net::awaitable<void> http_session::serve_get(beast::tcp_stream& stream, const http_request& req) {
  co_await stream_out(stream, req, {});
}

net::awaitable<void> http_session::serve_legacy_stream(beast::tcp_stream& stream,
                                                       const http_request& req,
                                                       std::string endpoint) {
  legacy_ = true;
  co_await stream_out(stream, req, "event: endpoint\ndata: " + endpoint + "\n\n");
  // In HTTP+SSE the session lives as long as its stream.
  do_close("the SSE client disconnected");
}

net::awaitable<void> http_session::stream_out(beast::tcp_stream& stream, const http_request& req,
                                              std::string prelude) {
  touch();
  if (get_stream_) {  // the newest GET stream wins; the old one ends cleanly
    get_stream_->done = true;
    get_stream_->notify();
  }
  auto w = std::make_shared<waiter>(strand_);
  get_stream_ = w;
  open_streams_.fetch_add(1);
  // Resumption (Streamable HTTP only): events sent after Last-Event-ID are
  // sent again, with their ids, from the bounded replay buffer; then what
  // was never sent.
  std::vector<std::pair<std::uint64_t, std::string>> replay;
  if (!legacy_) {
    if (auto h = req.find("Last-Event-ID"); h != req.end()) {
      const std::uint64_t last = parse_get_event_id(h->value());
      if (last > 0) {
        for (const auto& [seq, json] : sent_)
          if (seq > last) replay.emplace_back(seq, json);
        const std::uint64_t oldest = sent_.empty() ? get_seq_ + 1 : sent_.front().first;
        if (last + 1 < oldest) {
          const std::uint64_t lost = oldest - last - 1;
          dropped_.fetch_add(lost);
          log_.warn("session " + id_ + ": resumed after event g" + std::to_string(last) + " but " +
                    std::to_string(lost) + " later event(s) are beyond the replay buffer of " +
                    std::to_string(replay_limit) + ": resending what is kept");
        }
      }
    }
  }
  for (auto& m : buffer_) w->q.push_back(std::move(m));
  buffer_.clear();

  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.set("X-Accel-Buffering", "no");
  stamp(head, req.version(), false);
  head.chunked(true);
  http::response_serializer<http::empty_body> sr{head};
  stream.expires_after(write_timeout);
  auto [hec, hn] = co_await http::async_write_header(stream, sr, net::as_tuple(net::use_awaitable));
  (void)hn;
  bool ok = !hec;
  if (ok && !prelude.empty()) {
    stream.expires_after(write_timeout);
    auto [pec, pn] = co_await net::async_write(stream, http::make_chunk(net::buffer(prelude)),
                                               net::as_tuple(net::use_awaitable));
    (void)pn;
    ok = !pec;
  }
  for (std::size_t i = 0; ok && i < replay.size(); ++i) {
    const std::string ev = sse_event(replay[i].second, "g" + std::to_string(replay[i].first));
    stream.expires_after(write_timeout);
    auto [rec, rn] = co_await net::async_write(stream, http::make_chunk(net::buffer(ev)),
                                               net::as_tuple(net::use_awaitable));
    (void)rn;
    ok = !rec;
  }
  // Notice a client that goes away while the stream is quiet: the client
  // sends nothing on this connection, so a read completes only when it closes.
  auto watcher_done = std::make_shared<one_shot>(strand_);
  if (ok) {
    net::co_spawn(
        strand_,
        [&stream, w]() -> net::awaitable<void> {
          char b[256];
          for (;;) {
            auto [ec, n] = co_await stream.socket().async_read_some(
                net::buffer(b), net::as_tuple(net::use_awaitable));
            (void)n;
            if (ec) break;
          }
          w->done = true;
          w->notify();
        },
        [watcher_done](std::exception_ptr) { watcher_done->notify(); });
  } else {
    watcher_done->notify();
  }
  while (ok) {
    while (!w->q.empty() && ok) {
      std::string j = std::move(w->q.front());
      w->q.pop_front();
      const std::uint64_t seq = legacy_ ? 0 : get_seq_ + 1;
      const std::string ev = seq ? sse_event(j, "g" + std::to_string(seq)) : sse_event(j);
      stream.expires_after(write_timeout);
      auto [ec, n] = co_await net::async_write(stream, http::make_chunk(net::buffer(ev)),
                                               net::as_tuple(net::use_awaitable));
      (void)n;
      if (ec) {
        ok = false;
        // Not delivered: keep it for the next stream.
        buffer_.push_front(std::move(j));
      } else {
        s2c_messages_.fetch_add(1, std::memory_order_relaxed);
        s2c_bytes_.fetch_add(j.size(), std::memory_order_relaxed);
        if (seq) {  // written: kept for a client that resumes after losing it
          get_seq_ = seq;
          sent_.emplace_back(seq, std::move(j));
          if (sent_.size() > replay_limit) sent_.pop_front();
        }
      }
    }
    if (!ok || w->done) break;
    w->wake.expires_after(keepalive_every);
    auto [ec] = co_await w->wake.async_wait(net::as_tuple(net::use_awaitable));
    if (!ec && w->q.empty() && !w->done) {  // quiet for a while: probe the client
      static const std::string ping = ": keepalive\n\n";
      stream.expires_after(write_timeout);
      auto [wec, wn] = co_await net::async_write(stream, http::make_chunk(net::buffer(ping)),
                                                 net::as_tuple(net::use_awaitable));
      (void)wn;
      if (wec) ok = false;
    }
  }
  // Anything queued but unsent goes back to the buffer for the next stream.
  while (!w->q.empty()) {
    buffer_.push_front(std::move(w->q.back()));
    w->q.pop_back();
  }
  if (get_stream_ == w) get_stream_.reset();
  open_streams_.fetch_sub(1);
  touch();
  if (ok && !watcher_done->is_set()) {
    stream.expires_after(write_timeout);
    co_await net::async_write(stream, http::make_chunk_last(), net::as_tuple(net::use_awaitable));
  }
  error_code ignored;
  stream.socket().cancel(ignored);  // ends the watcher's read
  const std::chrono::steady_clock::duration bound = std::chrono::seconds(5);
  co_await watcher_done->wait_for(bound);
}

net::awaitable<void> http_session::serve_delete(beast::tcp_stream& stream,
                                                const http_request& req) {
  do_close("session deleted by the client");
  http::response<http::empty_body> res{http::status::ok, req.version()};
  stamp(res, req.version(), req.keep_alive());
  res.prepare_payload();
  stream.expires_after(write_timeout);
  co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
}

void http_session::close(std::string reason) {
  net::post(strand_, [self = shared_from_this(), r = std::move(reason)] { self->do_close(r); });
}

void http_session::drain(std::chrono::milliseconds deadline) {
  net::post(strand_, [self = shared_from_this(), deadline] {
    if (self->closing_ || self->draining_) return;
    self->draining_ = true;
    self->state_ = state::draining;
    if (self->posts_.empty()) {
      self->do_close("proxy shutting down");
      return;
    }
    self->log_.info("session " + self->id_ + ": waiting up to " + std::to_string(deadline.count()) +
                    " ms for " + std::to_string(self->in_flight_.load()) + " request(s) in flight");
    auto t = std::make_shared<net::steady_timer>(self->strand_, deadline);
    t->async_wait([self, t](error_code) {
      self->do_close("proxy shutting down: the drain deadline passed before the upstream answered");
    });
  });
}

void http_session::do_close(const std::string& reason) {
  if (closing_) return;
  closing_ = true;
  close_reason_ = reason;
  state_ = state::draining;
  if (on_closed_) on_closed_(id_, reason, false);  // from now on the id answers 404
  for (auto& w : posts_) {
    for (const auto& id : w->ids)
      w->responses.push_back(make_error_response(id, rpc_error::upstream_error, reason));
    in_flight_.fetch_sub(static_cast<std::uint32_t>(w->ids.size()));
    w->ids.clear();
    w->done = true;
    w->notify();
  }
  by_id_.clear();
  by_token_.clear();
  if (get_stream_) {
    get_stream_->done = true;
    get_stream_->notify();
  }
  upstream_->stop(opts_.shutdown_grace, shared_from_this());
}

void http_session::route(message msg) {
  touch();
  if (msg.info.kind == message_kind::batch) {
    // A server's batch (2025-03-26), e.g. the answers to a client's batch:
    // each element goes where it belongs. Re-serializing is fine here; the
    // hot path (single messages) keeps the raw bytes.
    const json::value v = json::parse(msg.raw);
    const json::array& arr = v.as_array();
    for (std::size_t i = 0; i < arr.size() && i < msg.batch.size(); ++i) {
      message one;
      one.raw = json::serialize(arr[i]);
      one.info = std::move(msg.batch[i]);
      route(std::move(one));
    }
    return;
  }
  const message_info& mi = msg.info;
  if (!init_id_.empty() && mi.id == init_id_ &&
      (mi.kind == message_kind::response || mi.kind == message_kind::error)) {
    init_id_.clear();
    if (mi.kind == message_kind::response && opts_.on_event)
      opts_.on_event(event_kind::session_ready, id_, protocol_version_of(msg.raw));
  }
  if (legacy_) {
    if (get_stream_) {
      get_stream_->q.push_back(std::move(msg.raw));
      get_stream_->notify();
    } else {
      buffer_.push_back(std::move(msg.raw));
      if (buffer_.size() > opts_.buffer_limit) {
        buffer_.pop_front();
        dropped_.fetch_add(1);
      }
    }
    return;
  }
  if (mi.kind == message_kind::response || mi.kind == message_kind::error) {
    auto it = by_id_.find(mi.id);
    if (it == by_id_.end()) {
      log_.debug("session " + id_ + ": dropped a response to no request in flight, id " + mi.id);
      return;
    }
    auto w = it->second;
    by_id_.erase(it);
    std::erase(w->ids, mi.id);
    in_flight_.fetch_sub(1);
    w->responses.push_back(std::move(msg.raw));
    w->notify();
    return;
  }
  // A notification or a server-to-client request: to the POST it belongs to
  // (by progress token, else the newest POST in flight) if that client takes
  // a stream, else to the GET stream, else into the bounded buffer.
  std::shared_ptr<waiter> w;
  if (!mi.progress_token.empty()) {
    if (auto it = by_token_.find(mi.progress_token); it != by_token_.end()) w = it->second;
  }
  if (!w && !posts_.empty()) w = posts_.back();
  if (w && w->accept_sse) {
    w->q.push_back(std::move(msg.raw));
    w->notify();
    return;
  }
  if (get_stream_) {
    get_stream_->q.push_back(std::move(msg.raw));
    get_stream_->notify();
    return;
  }
  buffer_.push_back(std::move(msg.raw));
  if (buffer_.size() > opts_.buffer_limit) {
    buffer_.pop_front();
    if (dropped_.fetch_add(1) == 0)
      log_.warn("session " + id_ + ": no stream open and the buffer of " +
                std::to_string(opts_.buffer_limit) +
                " server messages is full: dropping the oldest");
  }
}

net::awaitable<void> http_session::on_server_message(message msg) {
  if (opts_.on_message && !closing_ &&
      !opts_.on_message(direction::server_to_client, id_, msg.raw)) {
    do_close("session aborted by the message callback");
    co_return;
  }
  route(std::move(msg));
  co_return;
}

void http_session::on_server_rejected(const classify_error* err, std::string_view) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  log_.warn("session " + id_ + ": " +
            (err ? "dropped a server line that is not JSON-RPC (" + err->message + ")"
                 : std::string("dropped a server message over the size limit")));
}

net::awaitable<void> http_session::supervise() {
  // What the server wrote before exiting is routed first.
  const std::chrono::steady_clock::duration drain = std::chrono::seconds(1);
  upstream_end end = co_await upstream_->wait_end(drain);
  if (!closing_) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    log_.warn("session " + id_ + ": " + end.description);
    do_close(end.description + " before responding");
  }
  upstream_->close();
  upstream_end_ = std::move(end.status);
  state_ = state::closed;
  log_.info("session " + id_ + " closed (" + close_reason_ + "): " + snapshot_json());
  if (on_closed_) on_closed_(id_, close_reason_, true);  // upstream reaped
}

std::string http_session::snapshot_json() const {
  auto ld = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  json::object o;
  o["id"] = id_;
  o["state"] = to_string(state_.load());
  o["created_ms"] = wall_ms(created_);
  o["last_activity_ms"] = last_activity_ms_.load(std::memory_order_relaxed);
  o["upstream"] = upstream_->describe();
  o["client_to_server"] = {{"messages", ld(c2s_messages_)}, {"bytes", ld(c2s_bytes_)}};
  o["server_to_client"] = {{"messages", ld(s2c_messages_)}, {"bytes", ld(s2c_bytes_)}};
  o["in_flight"] = ld(in_flight_);
  o["open_streams"] = ld(open_streams_);
  o["errors"] = ld(errors_);
  o["dropped"] = ld(dropped_);
  if (state_.load() == state::closed)
    o["upstream_exit"] = upstream_end_;
  else
    o["upstream_exit"] = nullptr;
  return json::serialize(o);
}

}  // namespace mcpfwd
