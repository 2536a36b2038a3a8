// A stateless-era instance whose upstream serves only the session era: the
// bridge (docs/eras.md, "Bridging: modern client, legacy server").
//
// The instance holds one session-era session upstream (a process that got
// initialize, or a remote session), opened by the first modern request of
// its isolation key with that request's client capabilities and info.
// server/discover is answered from the initialize result; requests go up
// without the envelope; results come back with what the 2026 schema needs.
// A server→client request made during a call parks the call: its client
// gets an input_required result, and the retry carrying inputResponses and
// the requestState answers the server and takes the call over. Parked calls
// expire and are bounded in count and bytes; a call given up gets its
// server requests answered with an error and is cancelled upstream.
#include <sys/random.h>

#include <deque>
#include <map>

#include "base/errors.hpp"
#include "io/http_write.hpp"
#include "protocol/bridge.hpp"
#include "protocol/era.hpp"
#include "session/http_session.hpp"

namespace mcpfwd {

namespace {

// How long initialize may take.
constexpr auto open_timeout = std::chrono::seconds(10);
// How long a call waits for the client's retry after an input_required
// result, and how many such calls (and bytes of their server requests and
// early answers) one instance keeps.
constexpr auto input_ttl = std::chrono::seconds(60);
constexpr std::size_t max_parked = 64;
constexpr std::size_t max_parked_bytes = 1 << 20;
// Tokens given up or used, remembered to say why a retry is refused.
constexpr std::size_t remembered_tokens = 256;

std::string random_hex() {
  unsigned char b[16];
  std::size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw api_error(errc::io, "getrandom failed");
    }
    got += static_cast<std::size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string s(32, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    s[2 * i] = hex[b[i] >> 4];
    s[2 * i + 1] = hex[b[i] & 15];
  }
  return s;
}

std::string params_of(std::string_view raw) {
  boost::system::error_code ec;
  json::value v = json::parse(raw, ec);
  if (ec || !v.is_object()) return {};
  const auto* p = v.as_object().if_contains("params");
  return p ? json::serialize(*p) : std::string();
}

}  // namespace

struct http_session::bridge_state {
  enum class phase : std::uint8_t { none, opening, open, failed };
  phase ph = phase::none;
  legacy_server server;
  std::string log_level;  // the level last set with logging/setLevel
  std::uint64_t generation = 0, next_seq = 1, next_key = 1;

  // A call waiting for its client's retry.
  struct parked_call {
    std::string up;  // its upstream id
    bool had_token = false;
    std::string method, name, caps, token;
    std::vector<input_request> inputs;                        // unanswered
    std::unordered_map<std::string, std::string> server_ids;  // key -> server's request id
    std::string final_response;                               // arrived while parked
    std::size_t bytes = 0;
    std::shared_ptr<net::steady_timer> expiry;
  };
  std::map<std::uint64_t, parked_call> parked;  // oldest first
  std::unordered_map<std::string, std::uint64_t> by_token, by_up;
  std::deque<std::pair<std::string, std::string>> spent;  // token, why it is no longer valid
  std::size_t bytes = 0;

  struct listener {
    std::weak_ptr<waiter> w;
    listen_filter f;
  };
  std::list<listener> listens;
  std::unordered_map<std::string, int> subscribed;  // uri -> listens wanting it
};

void http_session::assume_legacy() noexcept {
  era_verdict expected = era_verdict::unknown;
  verdict_.compare_exchange_strong(expected, era_verdict::legacy);
}

std::string http_session::snapshot_json() const {
  json::object up = upstream_->describe();
  if (bridged_.load())
    up["input_required"] = json::object{{"pending", bridge_pending_.load()},
                                        {"bytes", bridge_pending_bytes_.load()},
                                        {"limit", max_parked},
                                        {"given_up", bridge_given_up_.load()}};
  return rec_.snapshot_json(std::move(up));
}

net::awaitable<bool> http_session::bridge_open(const message& first) {
  if (!bridge_) bridge_ = std::make_shared<bridge_state>();
  using phase = bridge_state::phase;
  auto b = bridge_;
  while (b->ph == phase::opening && !closing_) {  // another request is opening it
    net::steady_timer t(strand_, open_timeout);
    era_waiters_.push_back(&t);
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
    std::erase(era_waiters_, &t);
  }
  if (b->ph != phase::none) co_return b->ph == phase::open;
  b->ph = phase::opening;
  // initialize, as mcpfwd's own request (answered through by_id_).
  const std::string up = std::to_string(next_upstream_id_++);
  message m;
  classify_error err;
  std::string answer;
  if (classify(bridge_initialize_request(up, first.raw), m, err)) {
    auto w = std::make_shared<waiter>(strand_, cfg_.stream_buffer_bytes);
    w->client_id = up;
    w->own = true;
    w->ids.push_back(up);
    w->pending = 1;
    by_id_[up] = w;
    n_.in_flight.fetch_add(1);
    probe_ = w;
    co_await upstream_->send(std::move(m));
    w->deadline = std::chrono::steady_clock::now() + open_timeout;
    while (w->pending > 0 && !w->done && std::chrono::steady_clock::now() < w->deadline) {
      w->wake.expires_at(w->deadline);
      co_await w->wake.async_wait(net::as_tuple(net::use_awaitable));
    }
    if (w->pending == 0 && !w->done && !w->responses.empty()) answer = std::move(w->responses[0]);
    unmap(up, w, request_outcome::ok);
    if (probe_ == w) probe_.reset();
  }
  std::optional<legacy_server> s = answer.empty() ? std::nullopt : parse_initialize_result(answer);
  if (!s || closing_) {
    b->ph = phase::failed;
    log_.warn("session " + id() + ": the session-era upstream did not accept initialize" +
              (answer.empty() ? std::string(" (no answer)") : ": " + answer.substr(0, 200)) +
              ": not bridged");
  } else {
    b->server = std::move(*s);
    b->ph = phase::open;
    upstream_->send_now(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    bridged_.store(true);
    rec_.set_protocol_version(std::string(latest_modern_version));
    log_.info("session " + id() + ": bridging modern clients to the session-era upstream (" +
              b->server.protocol_version + ")");
  }
  for (auto* t : era_waiters_) t->cancel();
  co_return b->ph == phase::open;
}

net::awaitable<http_session::bridge_step> http_session::bridge_admit(const waiter_ptr& w,
                                                                     message& msg) {
  bridge_step step;
  auto b = bridge_;
  const std::string& method = msg.info.method;
  auto refuse = [&](int code, std::string text) {
    session_counters::add(n_.invalid);
    step.reply = make_error_response(msg.info.id, code, text);
    step.status = static_cast<http::status>(http_status_for_error(code));
    return step;
  };
  std::optional<modern_envelope> env = read_envelope(msg.raw);
  if (!env) co_return refuse(rpc_error::invalid_request, "mcpfwd bridge: unreadable request");
  if (method == "server/discover") {
    step.reply = bridge_discover_response(msg.info.id, b->server);
    co_return step;
  }
  w->method_name = method;
  w->name = env->name;
  w->client_caps = env->client_capabilities_json;
  // Per-request logLevel: the session's level (one per instance upstream).
  if (!env->log_level.empty() && b->server.logging && env->log_level != b->log_level) {
    b->log_level = env->log_level;
    log_.debug("session " + id() + ": bridge: logging/setLevel " + env->log_level +
               " (the request's _meta logLevel)");
    json::object params;
    params["level"] = env->log_level;
    co_await own_request("logging/setLevel", std::move(params), open_timeout);
  }
  if (env->has_request_state) {
    if (!mrtr_method(method))
      co_return refuse(rpc_error::invalid_params,
                       "requestState is only valid on tools/call, prompts/get and resources/read");
    const std::string& state = env->request_state;
    auto t = b->by_token.find(state);
    if (t == b->by_token.end()) {
      for (const auto& [tok, why] : b->spent)
        if (tok == state) co_return refuse(rpc_error::invalid_params, "requestState " + why);
      co_return refuse(rpc_error::invalid_params,
                       looks_like_request_state(state)
                           ? "requestState is unknown here: it was not issued for this isolation "
                             "key, or its instance has ended; call again without it"
                           : "requestState was not issued by this proxy; call again without it");
    }
    const std::uint64_t seq = t->second;
    auto& p = b->parked.at(seq);
    if (p.method != method || p.name != env->name)
      co_return refuse(rpc_error::invalid_params, "requestState belongs to a different request (" +
                                                      p.method + " " + p.name + ")");
    // The answers go to the waiting server requests.
    for (auto it = p.inputs.begin(); it != p.inputs.end();) {
      std::string r = input_response_for(env->input_responses_json, it->key);
      if (r.empty()) {
        ++it;
        continue;
      }
      upstream_->send_now(result_response(p.server_ids[it->key], r));
      p.server_ids.erase(it->key);
      it = p.inputs.erase(it);
    }
    if (p.expiry) p.expiry->cancel();
    w->client_id = msg.info.id;
    w->client_token = msg.info.progress_token;
    w->method = static_cast<std::uint8_t>(method_index(method));
    b->by_token.erase(state);
    b->spent.emplace_back(state, "was already used by a retry; use the newest one");
    if (b->spent.size() > remembered_tokens) b->spent.pop_front();
    step.resumed = true;
    if (!p.final_response.empty()) {  // the call ended while it waited
      std::string raw = bridge_response_to_modern(p.final_response, method);
      w->responses.push_back(with_response_id(raw, msg.info.id));
    } else if (!p.inputs.empty()) {  // still waiting for more: another round
      p.token = make_request_state(random_hex(), ++b->generation);
      b->by_token[p.token] = seq;
      w->responses.push_back(input_required_response(msg.info.id, p.inputs, p.token));
      auto timer = std::make_shared<net::steady_timer>(strand_, input_ttl);
      p.expiry = timer;
      timer->async_wait([weak = weak_from_this(), seq, tok = p.token](error_code ec) {
        if (ec) return;
        if (auto self = weak.lock(); self && self->bridge_)
          if (auto it = self->bridge_->by_token.find(tok);
              it != self->bridge_->by_token.end() && it->second == seq)
            self->bridge_give_up(seq, "expired");
      });
      co_return step;
    } else {  // the call is live again, on this request
      w->ids.push_back(p.up);
      w->pending = 1;
      by_id_[p.up] = w;
      if (p.had_token && !w->client_token.empty()) {
        w->tokens.push_back(p.up);
        by_token_[p.up] = w;
      }
      n_.in_flight.fetch_add(1);
      posts_.push_back(w);
      rec_.client_request(msg.info);
    }
    b->by_up.erase(p.up);
    b->bytes -= p.bytes;
    b->parked.erase(seq);
    bridge_pending_.store(static_cast<std::uint32_t>(b->parked.size()));
    bridge_pending_bytes_.store(b->bytes);
    co_return step;
  }
  std::string raw = bridge_request_to_legacy(msg.raw);
  if (raw.empty())
    co_return refuse(rpc_error::invalid_request, "mcpfwd bridge: unreadable request");
  msg.raw = std::move(raw);
  co_return step;
}

void http_session::bridge_server_request(const message& msg) {
  auto b = bridge_;
  const message_info& mi = msg.info;
  auto answer_error = [&](int code, const std::string& text) {
    upstream_->send_now(make_error_response(mi.id, code, text));
  };
  if (mi.method == "ping") {  // the bridge is the client: it answers
    upstream_->send_now(result_response(mi.id, "{}"));
    return;
  }
  const std::string_view cap = capability_for(mi.method);
  if (cap.empty()) {
    session_counters::add(n_.server_invalid);
    answer_error(rpc_error::method_not_found,
                 "mcpfwd bridge: " + mi.method + " cannot be relayed to a 2026-07-28 client");
    return;
  }
  // Which call is it about? A session-era server request names none: the
  // one call in flight that may ask for input (an MRTR method whose request
  // declared the capability), else the one call in flight, else the one call
  // already waiting for input.
  std::vector<waiter_ptr> calls, eligible;
  for (const auto& c : posts_)
    if (!c->own && !c->listen && c->pending > 0 && !c->ids.empty()) {
      calls.push_back(c);
      if (mrtr_method(c->method_name) && declares_capability(c->client_caps, cap))
        eligible.push_back(c);
    }
  waiter_ptr w;
  bridge_state::parked_call* p = nullptr;
  std::uint64_t seq = 0;
  if (eligible.size() == 1) {
    w = eligible.front();
  } else if (eligible.empty() && calls.size() == 1) {
    w = calls.front();  // refused below, with the precise reason
  } else if (calls.empty() && b->parked.size() == 1) {
    seq = b->parked.begin()->first;
    p = &b->parked.begin()->second;
  } else {
    const std::size_t n = eligible.empty() ? calls.size() : eligible.size();
    session_counters::add(n_.server_invalid);
    log_.warn("session " + id() + ": the server sent " + mi.method + " while " + std::to_string(n) +
              " calls that could ask for it were in flight: refused");
    answer_error(rpc_error::internal_error,
                 n == 0
                     ? std::string("mcpfwd bridge: no call is in flight to ask the client for this")
                     : "mcpfwd bridge: " + std::to_string(n) +
                           " calls are in flight; cannot tell which one this request belongs to");
    return;
  }
  const std::string& caps = w ? w->client_caps : p->caps;
  const std::string& method = w ? w->method_name : p->method;
  if (!declares_capability(caps, cap)) {
    answer_error(rpc_error::method_not_found, "Client does not support " + std::string(cap) +
                                                  " (the request's _meta did not declare it)");
    return;
  }
  if (!mrtr_method(method)) {
    answer_error(rpc_error::internal_error,
                 "mcpfwd bridge: a 2026-07-28 " + method + " cannot ask its client for input");
    return;
  }
  if (w) {  // park the call: its client gets input_required now
    seq = b->next_seq++;
    p = &b->parked[seq];
    p->up = w->ids.front();
    p->had_token = !w->tokens.empty();
    p->method = w->method_name;
    p->name = w->name;
    p->caps = w->client_caps;
    b->by_up[p->up] = seq;
    unmap(p->up, w, request_outcome::ok);
  }
  input_request in{"mcpfwd-" + std::to_string(b->next_key++), mi.method, params_of(msg.raw)};
  p->server_ids[in.key] = mi.id;
  p->bytes += in.params_json.size() + in.key.size() + mi.id.size();
  b->bytes += in.params_json.size() + in.key.size() + mi.id.size();
  p->inputs.push_back(std::move(in));
  if (w) {
    p->token = make_request_state(random_hex(), ++b->generation);
    b->by_token[p->token] = seq;
    auto timer = std::make_shared<net::steady_timer>(strand_, input_ttl);
    p->expiry = timer;
    timer->async_wait([weak = weak_from_this(), seq, tok = p->token](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock(); self && self->bridge_)
        if (auto it = self->bridge_->by_token.find(tok);
            it != self->bridge_->by_token.end() && it->second == seq)
          self->bridge_give_up(seq, "expired");
    });
    w->responses.push_back(input_required_response(w->client_id, p->inputs, p->token));
    w->notify();
  }
  // Bounded: the oldest waiting calls are given up first.
  while (b->parked.size() > max_parked || (b->bytes > max_parked_bytes && b->parked.size() > 1))
    bridge_give_up(b->parked.begin()->first,
                   "was given up: too many input_required round trips "
                   "were waiting on this instance");
  bridge_pending_.store(static_cast<std::uint32_t>(b->parked.size()));
  bridge_pending_bytes_.store(b->bytes);
}

void http_session::bridge_give_up(std::uint64_t seq, const std::string& why) {
  auto b = bridge_;
  auto it = b->parked.find(seq);
  if (it == b->parked.end()) return;
  auto& p = it->second;
  const std::string reason = why == "expired" ? "expired: the client did not retry within " +
                                                    std::to_string(input_ttl.count()) + " s"
                                              : why;
  for (const auto& in : p.inputs)
    upstream_->send_now(make_error_response(p.server_ids[in.key], rpc_error::internal_error,
                                            "mcpfwd bridge: the client's input " + reason));
  if (p.final_response.empty()) cancel_upstream(p.up, "the client did not retry in time");
  if (p.expiry) p.expiry->cancel();
  if (!p.token.empty()) {
    b->by_token.erase(p.token);
    b->spent.emplace_back(p.token, reason + "; call again without it");
    if (b->spent.size() > remembered_tokens) b->spent.pop_front();
  }
  b->by_up.erase(p.up);
  b->bytes -= p.bytes;
  b->parked.erase(it);
  bridge_given_up_.fetch_add(1);
  bridge_pending_.store(static_cast<std::uint32_t>(b->parked.size()));
  bridge_pending_bytes_.store(b->bytes);
  log_.info("session " + id() + ": an input_required round trip " + reason);
}

bool http_session::bridge_route(message& msg) {
  auto b = bridge_;
  const message_info& mi = msg.info;
  if (mi.kind == message_kind::response || mi.kind == message_kind::error) {
    auto it = b->by_up.find(mi.id);
    if (it == b->by_up.end()) return false;
    auto& p = b->parked.at(it->second);
    if (p.final_response.empty()) {
      p.bytes += msg.raw.size();
      b->bytes += msg.raw.size();
      p.final_response = std::move(msg.raw);
      while (b->bytes > max_parked_bytes && b->parked.size() > 1)
        bridge_give_up(b->parked.begin()->first,
                       "was given up: too many input_required round "
                       "trips were waiting on this instance");
      bridge_pending_bytes_.store(b->bytes);
    }
    return true;
  }
  if (mi.method == "notifications/cancelled") {  // the server gave up one of its requests
    boost::system::error_code ec;
    const json::value v = json::parse(msg.raw, ec);
    const auto* params = !ec && v.is_object() ? v.as_object().if_contains("params") : nullptr;
    const auto* rid =
        params && params->is_object() ? params->as_object().if_contains("requestId") : nullptr;
    if (rid == nullptr) return true;
    const std::string sid = json::serialize(*rid);
    for (auto& [seq, p] : b->parked)
      for (auto in = p.inputs.begin(); in != p.inputs.end(); ++in)
        if (p.server_ids[in->key] == sid) {
          p.server_ids.erase(in->key);
          p.inputs.erase(in);
          return true;
        }
    return true;
  }
  const bool listed = mi.method == "notifications/tools/list_changed" ||
                      mi.method == "notifications/prompts/list_changed" ||
                      mi.method == "notifications/resources/list_changed" ||
                      mi.method == "notifications/resources/updated";
  if (!listed) return false;
  for (auto it = b->listens.begin(); it != b->listens.end();) {
    auto w = it->w.lock();
    if (!w) {
      it = b->listens.erase(it);
      continue;
    }
    if (listen_wants(it->f, msg.raw)) {
      message copy;
      copy.info = msg.info;
      copy.raw = with_subscription(msg.raw, w->client_id);
      to_stream(w, copy);
    }
    ++it;
  }
  return true;
}

net::awaitable<bool> http_session::bridge_listen(beast::tcp_stream& stream, conn_buffer& buf,
                                                 const http_request& req, const waiter_ptr& w,
                                                 const message& msg) {
  auto b = bridge_;
  std::optional<listen_filter> f = honoured_filter(msg.raw, b->server);
  if (!f) {
    session_counters::add(n_.invalid);
    co_return co_await reply_now(
        stream, req, http::status::bad_request,
        make_error_response(msg.info.id, rpc_error::invalid_params,
                            "subscriptions/listen needs params.notifications"));
  }
  rec_.client_request(msg.info);
  for (const auto& uri : f->uris)
    if (b->subscribed[uri]++ == 0) {
      json::object params;
      params["uri"] = uri;
      co_await own_request("resources/subscribe", std::move(params), open_timeout);
    }
  const std::string up = std::to_string(next_upstream_id_++);  // never sent: names the stream
  w->listen = true;
  w->client_id = msg.info.id;
  w->method = static_cast<std::uint8_t>(method_index(msg.info.method));
  w->ids.push_back(up);
  w->pending = 1;
  by_id_[up] = w;
  n_.in_flight.fetch_add(1);
  posts_.push_back(w);
  b->listens.push_back({w, *f});
  message ack;
  ack.raw = listen_acknowledgement(*f, msg.info.id);
  to_stream(w, ack);
  bool sse = false;
  watch_client(stream, &buf, w);
  co_await await_answers(stream, req, w, sse);
  b->listens.remove_if([&](const bridge_state::listener& l) { return l.w.lock() == w; });
  for (const auto& uri : f->uris)
    if (--b->subscribed[uri] == 0) {
      b->subscribed.erase(uri);
      if (!closing_)
        upstream_->send_now(R"({"jsonrpc":"2.0","id":"mcpfwd-unsubscribe-)" +
                            std::to_string(next_upstream_id_++) +
                            R"(","method":"resources/unsubscribe","params":{"uri":)" +
                            json::serialize(json::value(uri)) + "}}");
    }
  const bool gone = w->client_gone || w->overflowed;
  forget(w, gone ? request_outcome::abandoned : request_outcome::ok, nullptr);
  rec_.touch();
  co_await stop_watching(stream, w);
  if (gone) co_return false;
  std::string body = w->responses.empty() ? std::string() : std::move(w->responses.front());
  if (sse) {
    bool ok = true;
    if (!body.empty()) ok = co_await stream_event(stream, req, sse, body);
    if (ok) ok = !(co_await write_last_chunk(stream));
    co_return ok&& req.keep_alive();
  }
  co_return co_await reply_now(stream, req, http::status::ok, std::move(body));
}

void http_session::bridge_close() {
  auto b = bridge_;
  for (auto& [seq, p] : b->parked)
    if (p.expiry) p.expiry->cancel();
  b->parked.clear();
  b->by_token.clear();
  b->by_up.clear();
  b->bytes = 0;
  bridge_pending_.store(0);
  bridge_pending_bytes_.store(0);
}

}  // namespace mcpfwd
