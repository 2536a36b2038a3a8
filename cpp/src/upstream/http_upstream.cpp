#include "upstream/http_upstream.hpp"

#include <algorithm>
#include <array>
#include <type_traits>

#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "base/spawn.hpp"
#include "protocol/bridge_legacy_client.hpp"
#include "protocol/era.hpp"
#include "protocol/sse_parser.hpp"
#include "upstream/http_exchange.hpp"

namespace mcpfwd {

namespace {

constexpr std::size_t max_pending = 1024;
constexpr std::size_t max_error_body = 64 * 1024;
constexpr unsigned get_stream_attempts = 5;
constexpr unsigned resume_attempts = 3;

// Requests whose repetition changes nothing on the server: the only ones
// sent again when a reused keep-alive connection fails under them.
bool retry_safe(const message& m) {
  if (m.info.kind != message_kind::request) return false;
  static constexpr std::string_view safe[] = {"ping",
                                              "tools/list",
                                              "prompts/list",
                                              "prompts/get",
                                              "resources/list",
                                              "resources/read",
                                              "resources/templates/list",
                                              "completion/complete"};
  return std::find(std::begin(safe), std::end(safe), m.info.method) != std::end(safe);
}

std::vector<std::string> request_ids(const message& m) {
  std::vector<std::string> ids;
  if (m.info.kind == message_kind::batch) {
    for (const auto& mi : m.batch)
      if (mi.kind == message_kind::request) ids.push_back(mi.id);
  } else if (m.info.kind == message_kind::request) {
    ids.push_back(m.info.id);
  }
  return ids;
}

// Visible ASCII only (spec §Session Management), bounded.
bool valid_session_id(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

bool is_initialize(const message& m) {
  return m.info.kind == message_kind::request && m.info.method == "initialize";
}

message make_message(std::string raw) {
  message m;
  classify_error err;
  classify(std::move(raw), m, err);
  return m;
}

}  // namespace

// An exchange in progress. Registered in active_ so stop() can abort it.
struct http_upstream::active {
  http_upstream& owner;
  http_conn* conn = nullptr;
  std::vector<std::string> ids;
  bool aborted = false;
  bool resuming = false;  // a GET resuming a broken answer stream
  std::list<active*>::iterator pos;
  explicit active(http_upstream& u) : owner(u) {
    owner.active_.push_front(this);
    pos = owner.active_.begin();
  }
  ~active() { owner.active_.erase(pos); }
  active(const active&) = delete;
  active& operator=(const active&) = delete;
};

http_upstream::http_upstream(const session_strand& strand, std::shared_ptr<http_client> client,
                             const logger& log, std::string log_prefix)
    : strand_(strand),
      client_(std::move(client)),
      opts_(client_->options()),
      log_(log),
      prefix_(std::move(log_prefix)),
      origin_(origin_of(client_->url())),
      end_event_(strand),
      retry_timer_(strand),
      transport_(opts_.transport) {
  const auto& u = client_->url();
  target_ = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) target_ += "?" + std::string(u.encoded_query());
  shown_url_ = origin_.key() + std::string(u.encoded_path());
}

http_upstream::~http_upstream() = default;

void http_upstream::spawn(net::awaitable<void> task) {
  auto owner = owner_.lock();
  if (!owner) return;
  net::co_spawn(strand_, std::move(task), on_failure(owner));
}

void http_upstream::start(std::shared_ptr<void> owner, sink& out) {
  owner_ = owner;
  sink_ = &out;
}

void http_upstream::set_client_authorization(std::string_view value) {
  if (opts_.forward_authorization) client_auth_.assign(value);
}

json::object http_upstream::describe() const {
  static constexpr const char* gs[] = {"none", "open", "unsupported", "failed"};
  return json::object{{"kind", "http"},
                      {"url", shown_url_},
                      {"transport", to_string(transport_.load())},
                      {"get_stream", gs[static_cast<int>(get_state_.load())]}};
}

// A coroutine of this upstream that fails ends the upstream (its session
// closes as when the upstream goes away), after the failure is logged.
std::function<void(std::exception_ptr)> http_upstream::on_failure(std::shared_ptr<void> owner) {
  return log_failure(log_, prefix_ + "an exchange with the upstream", [this, owner] {
    abort_all();
    finish("mcpfwd internal error in the upstream session", "failed: internal error", 1);
  });
}

// ---------------------------------------------------------------- sending

// (Never a conditional expression inside a co_await: GCC 12 destroys the
// temporary it makes twice, a double free; see tools/check_coroutines.py.)
std::string http_upstream::closed_reason() const {
  if (ended_) return end_.description;
  return "upstream session is closing";
}

net::awaitable<void> http_upstream::send(message msg) {
  if (ended_ || stopping_) {
    co_await fail(request_ids(msg), closed_reason());
    co_return;
  }
  if (phase_ != phase::ready) {
    if (pending_.size() >= max_pending) {
      co_await fail(request_ids(msg), "upstream is not connected yet and " +
                                          std::to_string(max_pending) + " messages are waiting");
      co_return;
    }
    pending_.push_back(std::move(msg));
    if (phase_ == phase::idle) {
      phase_ = phase::connecting;
      spawn(connect_phase());
    }
    co_return;
  }
  co_await dispatch(std::move(msg));
}

void http_upstream::send_now(std::string raw) {
  message m = make_message(std::move(raw));
  if (phase_ != phase::ready) {
    if (!ended_ && !stopping_) pending_.push_back(std::move(m));
    return;
  }
  spawn(dispatch(std::move(m)));
}

net::awaitable<void> http_upstream::dispatch(message msg) {
  if (msg.info.kind == message_kind::notification && msg.info.method == "notifications/cancelled") {
    // The request's answer stream is of no use any more: free its connection
    // (after the cancellation itself has been delivered).
    const std::string id = msg.info.cancels;
    co_await exchange(std::move(msg), false);
    if (!id.empty()) abort_request(id);
    co_return;
  }
  if (request_ids(msg).empty()) {
    co_await exchange(std::move(msg), false);  // in order: wait for the 202
    co_return;
  }
  auto owner = owner_.lock();
  if (!owner) co_return;
  net::co_spawn(
      strand_,
      [this, m = std::move(msg)]() mutable -> net::awaitable<void> {
        co_await exchange(std::move(m), false);
      },
      on_failure(owner));
}

net::awaitable<void> http_upstream::connect_phase() {
  if (transport_.load() != upstream_transport::sse && !pending_.empty() &&
      !(modern_version_ = envelope_version(pending_.front().raw)).empty()) {
    // A stateless-era client: every message is a request of its own.
    modern_ = true;
    transport_ = upstream_transport::streamable_http;
    co_await flush();
    co_return;
  }
  if (transport_.load() != upstream_transport::sse && !pending_.empty()) {
    message first = std::move(pending_.front());
    pending_.pop_front();
    message copy = first;
    const outcome oc = co_await exchange(std::move(copy), true);
    if (oc == outcome::fallback) {
      transport_ = upstream_transport::sse;
      pending_.push_front(std::move(first));
    } else if (oc == outcome::failed && is_initialize(first) && !stopping_) {
      // No upstream session came of it: this session cannot work. Its
      // client has its error; closing makes it start over cleanly.
      const std::string why = "cannot open the upstream session: " + last_failure_;
      co_await fail_pending(why);
      finish(why, "failed: " + last_failure_, 1);
      co_return;
    } else {
      if (transport_.load() == upstream_transport::auto_detect)
        transport_ = upstream_transport::streamable_http;
      if (oc == outcome::ok && !stopping_ && !ended_ && !modern_) spawn(get_stream());
      co_await flush();
      co_return;
    }
  }
  co_await legacy_stream();
}

net::awaitable<void> http_upstream::flush() {
  while (!pending_.empty()) {
    message m = std::move(pending_.front());
    pending_.pop_front();
    if (ended_ || stopping_) {
      co_await fail(request_ids(m), closed_reason());
      continue;
    }
    co_await dispatch(std::move(m));
  }
  phase_ = phase::ready;
}

std::string http_upstream::post_head(bool legacy) const {
  const origin& o = legacy ? endpoint_origin_ : origin_;
  std::string h;
  h.reserve(256);
  h += "POST ";
  h += legacy ? endpoint_target_ : target_;
  h += " HTTP/1.1\r\nHost: ";
  h += o.host_header;
  h += "\r\nUser-Agent: mcpfwd\r\nContent-Type: application/json\r\n"
       "Accept: application/json, text/event-stream\r\n";
  bool has_auth = false;
  for (const auto& [k, v] : opts_.headers) {
    h += k;
    h += ": ";
    h += v;
    h += "\r\n";
    if (beast::iequals(k, "authorization")) has_auth = true;
  }
  if (!has_auth && !client_auth_.empty()) {
    h += "Authorization: ";
    h += client_auth_;
    h += "\r\n";
  }
  if (!legacy) {
    if (!session_id_.empty()) {
      h += "Mcp-Session-Id: ";
      h += session_id_;
      h += "\r\n";
    }
    if (!protocol_version_.empty()) {
      h += "MCP-Protocol-Version: ";
      h += protocol_version_;
      h += "\r\n";
    }
  }
  return h;
}

template <class Req>
static void decorate(Req& req, const origin& o, const remote_options& opts,
                     const std::string& client_auth) {
  req.set(http::field::host, o.host_header);
  req.set(http::field::user_agent, "mcpfwd");
  bool has_auth = false;
  for (const auto& [k, v] : opts.headers) {
    req.set(k, v);
    if (beast::iequals(k, "authorization")) has_auth = true;
  }
  // A configured Authorization wins over the client's own.
  if (!has_auth && !client_auth.empty()) req.set(http::field::authorization, client_auth);
  req.keep_alive(true);
}

net::awaitable<http_upstream::outcome> http_upstream::exchange(message msg, bool first) {
  const std::vector<std::string> ids = request_ids(msg);
  const bool is_request = !ids.empty();
  const bool legacy = transport_.load() == upstream_transport::sse;
  const origin& o = legacy ? endpoint_origin_ : origin_;
  const bool is_init = msg.info.kind == message_kind::request && msg.info.method == "initialize";
  if (is_init) init_id_ = msg.info.id;

  // The request head is written by hand: the hot path, and every field is
  // ours (static header names and values were validated at start).
  std::string head = post_head(legacy);
  if (modern_) {
    const std::string v = envelope_version(msg.raw);
    head += routing_header_lines(msg.raw, v.empty() ? modern_version_ : v);
  }
  head += "Content-Length: ";
  head += std::to_string(msg.raw.size());
  head += "\r\n\r\n";
  const bool may_retry = retry_safe(msg);
  const std::string body = std::move(msg.raw);

  active a(*this);
  a.ids = ids;
  conn_result cr;
  pool_lease lease{*client_, cr, is_request};
  std::optional<parser_t> p;
  for (int attempt = 0;; ++attempt) {
    cr = co_await client_->acquire(o, is_request);
    if (!cr.conn) {
      if (!stopping_) {
        log_.warn(prefix_ + cr.error);
        co_await fail(ids, cr.error);
      }
      co_return outcome::failed;
    }
    a.conn = cr.conn.get();
    p.emplace();
    p->body_limit(boost::none);
    std::array<net::const_buffer, 2> bufs{net::buffer(head), net::buffer(body)};
    const error_code ec = co_await send_and_read_header(*cr.conn, bufs, *p, opts_.timeout);
    if (!ec && !a.aborted) break;
    a.conn = nullptr;
    client_->release(std::move(cr.conn), is_request, false);
    if (stopping_ || a.aborted) co_return outcome::failed;
    const bool lost = ec == http::error::end_of_stream || ec == net::error::eof ||
                      ec == net::error::connection_reset || ec == net::error::broken_pipe;
    if (attempt == 0 && cr.reused && lost && may_retry) {
      log_.debug(prefix_ + "a reused upstream connection failed (" + ec.message() +
                 "): sending again on a fresh one");
      continue;
    }
    const std::string why = io_error_text(ec, opts_);
    log_.warn(prefix_ + why);
    co_await fail(ids, why);
    co_return outcome::failed;
  }

  http_conn& c = *cr.conn;
  const unsigned status = p->get().result_int();
  const std::string ctype(p->get()[http::field::content_type]);
  bool reusable = p->get().keep_alive();
  outcome result = outcome::ok;
  std::vector<std::string> unanswered = ids;

  if (is_init && !legacy && status >= 200 && status < 300 &&
      transport_.load() == upstream_transport::auto_detect)
    transport_ = upstream_transport::streamable_http;  // before the client hears back
  if (is_init && !legacy) {
    if (auto sid = p->get().find("Mcp-Session-Id"); sid != p->get().end()) {
      if (valid_session_id(sid->value()))
        session_id_.assign(sid->value());
      else
        log_.warn(prefix_ + "ignored an invalid Mcp-Session-Id from the upstream");
    }
  }

  if (status >= 200 && status < 300 && is_event_stream(ctype)) {
    // The answer streams: progress, server requests, then the response.
    sse_parser sp(opts_.max_message_bytes);
    const bool clean = co_await pump_events(c, *p, sp, &unanswered, a);
    if (!clean) reusable = false;
    if (!unanswered.empty() && !stopping_ && !a.aborted && !ended_ && !legacy &&
        !sp.last_event_id().empty()) {
      // Spec 2025-11-25 §Resumability: resume the broken stream with a GET
      // carrying Last-Event-ID. The dead connection goes back first.
      a.conn = nullptr;
      client_->release(std::move(cr.conn), is_request, false);
      log_.info(prefix_ + "the upstream's answer stream broke before the response: resuming it");
      co_await resume(sp.last_event_id(), unanswered);
    }
    if (!unanswered.empty() && !stopping_ && !a.aborted) {
      const std::string why = "upstream closed the response stream before answering";
      log_.warn(prefix_ + why);
      co_await fail(unanswered, why);
    }
  } else if (status >= 200 && status < 300) {
    body_result b = co_await read_body(c, *p, opts_.max_message_bytes);
    if (b.ec) reusable = false;
    if (b.too_big) {
      // Its id is the request's, already known: the error below names why.
      sink_->on_server_rejected(nullptr, {});
    } else if (!legacy && b.body.find_first_not_of(" \t\r\n") != std::string::npos) {
      // (A legacy server's answers come on its stream; the POST's body,
      // often "Accepted", is not a message.)
      co_await deliver(std::move(b.body), &unanswered);
    }
    if (!unanswered.empty() && !legacy && !stopping_) {
      std::string why = "upstream answered " + status_text(*p);
      if (b.too_big)
        why = "mcpfwd: the server's response was over the " +
              std::to_string(opts_.max_message_bytes) +
              "-byte message limit (--max-message-bytes) and was dropped";
      else
        why += b.ec ? " and the connection failed (" + b.ec.message() + ")" : " without a response";
      log_.warn(prefix_ + why);
      co_await fail(unanswered, why);
    }
  } else if (modern_ && !ids.empty()) {
    // The stateless era answers a refused request with its JSON-RPC error
    // and a 4xx status (-32022 naming versions, -32602, -32601, ...): that
    // error is the client's answer, as it is.
    body_result b = co_await read_body(c, *p, max_error_body);
    if (b.ec || b.too_big) reusable = false;
    if (!b.too_big && b.body.find_first_not_of(" \t\r\n") != std::string::npos)
      co_await deliver(std::move(b.body), &unanswered);
    if (!unanswered.empty() && !stopping_) {
      const std::string why = "upstream answered " + status_text(*p);
      log_.warn(prefix_ + why);
      co_await fail(unanswered, why);
    }
    result = outcome::failed;
  } else {
    body_result b = co_await read_body(c, *p, max_error_body);
    if (b.ec || b.too_big) reusable = false;
    if (first && is_init && !legacy && status == 400 && !b.too_big &&
        bridge_l2m::refuses_handshake(b.body)) {
      // A server of the stateless era only: its -32022 is the initialize's
      // answer (the bridge takes it from there, bridge_to_modern.hpp), and
      // every later message is a stateless-era request of its own.
      modern_ = true;
      modern_version_ = std::string(latest_modern_version);
      transport_ = upstream_transport::streamable_http;
      co_await deliver(std::move(b.body), &unanswered);
    } else if (first && is_init && transport_.load() == upstream_transport::auto_detect &&
               session_id_.empty() && (status == 400 || status == 404 || status == 405)) {
      fallback_note_ = "POST answered " + status_text(*p);
      log_.debug(prefix_ + "upstream " + fallback_note_ +
                 " to initialize: trying the legacy HTTP+SSE transport");
      result = outcome::fallback;
    } else {
      std::string why = "upstream answered " + status_text(*p);
      std::string detail = b.body.substr(0, 200);
      std::replace_if(
          detail.begin(), detail.end(), [](char ch) { return ch == '\r' || ch == '\n'; }, ' ');
      if (!detail.empty()) why += ": " + detail;
      const bool expired = status == 404 && (legacy || !session_id_.empty());
      if (expired) why = "upstream session expired (HTTP 404): the client must initialize again";
      if (!stopping_) {
        log_.warn(prefix_ + why);
        co_await fail(ids, why);
        if (ids.empty() && !expired) log_.warn(prefix_ + "a message to the upstream was lost");
      }
      if (expired) finish("upstream session expired (HTTP 404)", "session expired (HTTP 404)", 1);
      result = outcome::failed;
    }
  }
  a.conn = nullptr;
  if (cr.conn)
    client_->release(std::move(cr.conn), is_request, reusable && p->is_done() && !a.aborted);
  co_return result;
}

// ---------------------------------------------------------------- streams

request_t http_upstream::stream_request(bool session, const std::string& last_id) const {
  request_t req{http::verb::get, target_, 11};
  decorate(req, origin_, opts_, client_auth_);
  req.set(http::field::accept, "text/event-stream");
  if (session && !session_id_.empty()) req.set("Mcp-Session-Id", session_id_);
  if (session && !protocol_version_.empty()) req.set("MCP-Protocol-Version", protocol_version_);
  if (!last_id.empty()) req.set("Last-Event-ID", last_id);
  return req;
}

net::awaitable<bool> http_upstream::pump_events(http_conn& c, parser_t& p, sse_parser& sp,
                                                std::vector<std::string>* answered, const active& a,
                                                std::size_t* seen) {
  std::vector<sse_event> evs;
  std::vector<char> buf(read_chunk);
  while (!p.is_done()) {
    const piece pc = co_await read_body_some(c, p, buf.data(), buf.size());
    if (pc.n) {
      evs.clear();
      sp.feed(std::string_view(buf.data(), pc.n), evs);
      if (seen) *seen += evs.size();
      for (auto& ev : evs) {
        if (ev.oversize) {
          co_await dropped_oversize(std::move(ev), answered);
          continue;
        }
        if ((!ev.type.empty() && ev.type != "message") || ev.data.empty()) continue;
        co_await deliver(std::move(ev.data), answered);
      }
    }
    if (pc.ec || a.aborted || stopping_ || ended_) co_return false;
    // A resumed stream may stay open once it has carried what was missing.
    if (answered && answered->empty() && a.resuming) co_return false;
  }
  co_return true;
}

net::awaitable<void> http_upstream::resume(std::string last_id,
                                           std::vector<std::string>& unanswered) {
  for (unsigned attempt = 0; attempt < resume_attempts; ++attempt) {
    if (unanswered.empty() || stopping_ || ended_) co_return;
    conn_result cr = co_await client_->connect(origin_);
    if (!cr.conn) {
      log_.debug(prefix_ + "cannot resume the answer stream: " + cr.error);
      co_return;
    }
    active a(*this);
    a.conn = cr.conn.get();
    a.ids = unanswered;
    a.resuming = true;
    request_t req = stream_request(true, last_id);
    parser_t p;
    p.body_limit(boost::none);
    const error_code ec = co_await send_and_read_header(*cr.conn, req, p, opts_.timeout);
    if (ec || stopping_ || a.aborted) {
      cr.conn->close();
      co_return;
    }
    if (p.get().result_int() != 200 || !is_event_stream(p.get()[http::field::content_type])) {
      log_.info(prefix_ + "the upstream cannot resume the answer stream: GET answered " +
                status_text(p));
      cr.conn->close();
      co_return;
    }
    sse_parser sp(opts_.max_message_bytes);
    co_await pump_events(*cr.conn, p, sp, &unanswered, a);
    cr.conn->close();
    if (!sp.last_event_id().empty()) last_id = sp.last_event_id();
  }
}

net::awaitable<void> http_upstream::get_stream() {
  unsigned failures = 0;
  std::string last_id;
  std::chrono::milliseconds delay{1000};  // SSE `retry` changes it
  while (!stopping_ && !ended_) {
    conn_result cr = co_await client_->connect(origin_);
    if (stopping_ || ended_) co_return;
    bool got_events = false;
    if (cr.conn) {
      active a(*this);
      a.conn = cr.conn.get();
      request_t req = stream_request(true, last_id);
      parser_t p;
      p.body_limit(boost::none);
      const error_code ec = co_await send_and_read_header(*cr.conn, req, p, opts_.timeout);
      if (stopping_ || ended_ || a.aborted) co_return;
      if (!ec) {
        const unsigned status = p.get().result_int();
        if (status == 405) {
          get_state_ = get_state::unsupported;
          log_.debug(prefix_ + "the upstream offers no GET stream (HTTP 405)");
          co_return;
        }
        if (status == 404 && !session_id_.empty()) {
          const std::string why =
              "upstream session expired (HTTP 404): the client must initialize again";
          log_.warn(prefix_ + why);
          finish("upstream session expired (HTTP 404)", "session expired (HTTP 404)", 1);
          co_return;
        }
        if (status != 200 || !is_event_stream(p.get()[http::field::content_type])) {
          get_state_ = get_state::failed;
          log_.warn(prefix_ + "the upstream's GET stream answered " + status_text(p) +
                    ": server-initiated messages will not arrive");
          co_return;
        }
        get_state_ = get_state::open;
        sse_parser sp(opts_.max_message_bytes);
        std::size_t seen = 0;
        co_await pump_events(*cr.conn, p, sp, nullptr, a, &seen);
        got_events = seen > 0;
        last_id = sp.last_event_id();
        if (sp.retry_ms()) delay = std::chrono::milliseconds(*sp.retry_ms());
        get_state_ = get_state::none;
      }
      cr.conn->close();
    }
    if (stopping_ || ended_) co_return;
    failures = got_events ? 0 : failures + 1;
    if (failures >= get_stream_attempts) {
      get_state_ = get_state::failed;
      log_.warn(prefix_ + "the upstream's GET stream failed " + std::to_string(failures) +
                " times in a row (" + (cr.conn ? "it closed" : cr.error) +
                "): giving up on server-initiated messages");
      co_return;
    }
    // Reconnect after the delay the server asked for (SSE `retry`), else 1 s.
    retry_timer_.expires_after(delay);
    co_await retry_timer_.async_wait(net::as_tuple(net::use_awaitable));
  }
}

net::awaitable<void> http_upstream::legacy_stream() {
  conn_result cr = co_await client_->connect(origin_);
  if (!cr.conn) {
    log_.warn(prefix_ + cr.error);
    co_await fail_pending(cr.error);
    finish(cr.error, "unreachable", 1);
    co_return;
  }
  active a(*this);
  a.conn = cr.conn.get();
  request_t req = stream_request(false, {});
  parser_t p;
  p.body_limit(boost::none);
  const error_code ec = co_await send_and_read_header(*cr.conn, req, p, opts_.timeout);
  std::string why;
  if (ec) {
    why = io_error_text(ec, opts_);
  } else if (p.get().result_int() != 200 || !is_event_stream(p.get()[http::field::content_type])) {
    why = "upstream speaks neither Streamable HTTP nor HTTP+SSE";
    if (!fallback_note_.empty()) why += " (" + fallback_note_ + ")";
    why += ": GET answered " + status_text(p);
  }
  if (!why.empty()) {
    cr.conn->close();
    if (stopping_ || a.aborted) {
      finish("upstream session ended", "ended", 0);
      co_return;
    }
    log_.warn(prefix_ + why);
    co_await fail_pending(why);
    finish(why, "failed", 1);
    co_return;
  }
  bool have_endpoint = false;
  sse_parser sp(opts_.max_message_bytes);
  std::vector<sse_event> evs;
  std::vector<char> buf(read_chunk);
  while (!p.is_done()) {
    const piece pc = co_await read_body_some(*cr.conn, p, buf.data(), buf.size());
    if (pc.n) {
      evs.clear();
      sp.feed(std::string_view(buf.data(), pc.n), evs);
      for (auto& ev : evs) {
        if (ev.oversize) {
          co_await dropped_oversize(std::move(ev), nullptr);
          continue;
        }
        if (ev.type == "endpoint") {
          if (have_endpoint) continue;
          boost::urls::url dest;
          auto ref = boost::urls::parse_uri_reference(ev.data);
          std::string bad;
          if (!ref) {
            bad = "cannot parse the endpoint '" + ev.data + "'";
          } else if (auto rv = boost::urls::resolve(client_->url(), *ref, dest); !rv) {
            bad = "cannot resolve the endpoint '" + ev.data + "'";
          } else {
            origin eo;
            try {
              eo = origin_of(dest);
            } catch (const std::exception& e) {
              bad = e.what();
            }
            if (bad.empty() && eo.key() != origin_.key())
              bad = "the endpoint '" + ev.data + "' is on another origin";
            if (bad.empty()) {
              endpoint_origin_ = eo;
              endpoint_target_ =
                  dest.encoded_path().empty() ? "/" : std::string(dest.encoded_path());
              if (dest.has_query()) endpoint_target_ += "?" + std::string(dest.encoded_query());
            }
          }
          if (!bad.empty()) {
            why = "upstream SSE " + bad;
            break;
          }
          have_endpoint = true;
          log_.debug(prefix_ + "legacy SSE upstream: POSTing to " + endpoint_target_);
          spawn(flush());
          continue;
        }
        if ((!ev.type.empty() && ev.type != "message") || ev.data.empty()) continue;
        co_await deliver(std::move(ev.data), nullptr);
      }
    }
    if (!why.empty() || pc.ec || stopping_ || a.aborted) break;
  }
  cr.conn->close();
  if (stopping_ || a.aborted) {
    finish("upstream session ended", "ended", 0);
    co_return;
  }
  if (why.empty())
    why = have_endpoint ? "upstream closed its SSE stream (legacy HTTP+SSE session ended)"
                        : "upstream closed its SSE stream before sending the endpoint event";
  log_.warn(prefix_ + why);
  if (!have_endpoint) co_await fail_pending(why);
  finish(why, "SSE stream closed", 1);
}

// ---------------------------------------------------------------- results

net::awaitable<void> http_upstream::deliver(std::string data, std::vector<std::string>* answered) {
  message m;
  classify_error err;
  if (!classify_taking(data, m, err)) {  // else `data` is still here
    sink_->on_server_rejected(&err, data);
    oversize_answer a = answer_unreadable(data, err.message, true);
    if (!a.to_sender.empty()) send_now(std::move(a.to_sender));
    if (a.to_receiver.empty()) co_return;
    if (!classify(std::move(a.to_receiver), m, err)) co_return;
  }
  auto seen = [&](const message_info& mi) {
    if (mi.kind != message_kind::response && mi.kind != message_kind::error) return;
    if (answered) std::erase(*answered, mi.id);
    if (!init_id_.empty() && mi.id == init_id_) {
      init_id_.clear();
      if (mi.kind == message_kind::response) {
        std::string pv = protocol_version_of(m.raw);
        if (valid_session_id(pv)) protocol_version_ = std::move(pv);
      }
    }
  };
  if (m.info.kind == message_kind::batch) {
    for (const auto& mi : m.batch) seen(mi);
  } else {
    seen(m.info);
  }
  co_await sink_->on_server_message(std::move(m));
}

net::awaitable<void> http_upstream::dropped_oversize(sse_event ev,
                                                     std::vector<std::string>* answered) {
  sink_->on_server_rejected(nullptr, {});
  if (!ev.type.empty() && ev.type != "message") co_return;
  if (!ev.answer->to_sender.empty()) send_now(std::move(ev.answer->to_sender));
  if (!ev.answer->to_receiver.empty())
    co_await deliver(std::move(ev.answer->to_receiver), answered);
}

net::awaitable<void> http_upstream::fail(const std::vector<std::string>& ids,
                                         const std::string& why) {
  last_failure_ = why;
  for (const auto& id : ids)
    co_await sink_->on_server_message(
        make_message(make_error_response(id, rpc_error::upstream_error, why)));
}

net::awaitable<void> http_upstream::fail_pending(const std::string& why) {
  while (!pending_.empty()) {
    message m = std::move(pending_.front());
    pending_.pop_front();
    co_await fail(request_ids(m), why);
  }
}

void http_upstream::finish(std::string description, std::string status, int exit_code) {
  if (ended_) return;
  ended_ = true;
  end_.description = std::move(description);
  end_.status = std::move(status);
  end_.exit_code = exit_code;
  end_event_.notify();
}

void http_upstream::abort_request(const std::string& id) {
  for (active* a : active_) {
    if (std::find(a->ids.begin(), a->ids.end(), id) != a->ids.end()) {
      a->aborted = true;
      if (a->conn) a->conn->close();
    }
  }
}

void http_upstream::abort_all() noexcept {
  for (active* a : active_) {
    a->aborted = true;
    if (a->conn) a->conn->close();
  }
  retry_timer_.cancel();
}

// ---------------------------------------------------------------- ending

void http_upstream::stop(std::chrono::milliseconds grace, std::shared_ptr<void> owner) {
  if (stopping_) return;
  stopping_ = true;
  owner_ = owner;
  abort_all();
  net::co_spawn(strand_, end_session(grace), on_failure(owner));
}

net::awaitable<void> http_upstream::end_session(std::chrono::milliseconds grace) {
  if (!ended_ && transport_.load() != upstream_transport::sse && !session_id_.empty()) {
    // Tell the upstream the session is over (spec §Session Management 5).
    conn_result cr = co_await client_->acquire(origin_, false);
    pool_lease lease{*client_, cr, false};
    if (cr.conn) {
      request_t req{http::verb::delete_, target_, 11};
      decorate(req, origin_, opts_, client_auth_);
      req.set("Mcp-Session-Id", session_id_);
      if (!protocol_version_.empty()) req.set("MCP-Protocol-Version", protocol_version_);
      parser_t p;
      p.body_limit(boost::none);
      const error_code ec =
          co_await send_and_read_header(*cr.conn, req, p, std::min(grace, opts_.timeout));
      bool reusable = false;
      if (!ec) {
        log_.debug(prefix_ + "upstream session ended with DELETE: " + status_text(p));
        body_result b = co_await read_body(*cr.conn, p, max_error_body);
        reusable = !b.ec && p.is_done() && p.get().keep_alive();
      } else {
        log_.debug(prefix_ + "DELETE of the upstream session failed: " + ec.message());
      }
      client_->release(std::move(cr.conn), false, reusable);
    }
  }
  finish("upstream session ended", "ended", 0);
}

net::awaitable<upstream_end> http_upstream::wait_end(std::chrono::steady_clock::duration) {
  while (!end_event_.is_set()) co_await end_event_.wait_for(std::chrono::hours(24));
  co_return end_;
}

void http_upstream::close() noexcept {
  abort_all();
}

}  // namespace mcpfwd
