// One HTTP session: a downstream MCP client known by its session id (a
// Streamable HTTP Mcp-Session-Id, or a legacy HTTP+SSE sessionId), bound to
// its own upstream.
//
// All state lives on the session's strand. HTTP exchanges that concern the
// session (POST, GET stream, DELETE) are run on that strand by the listener,
// so the socket is only ever touched by one coroutine at a time and session
// code takes no locks. The strand is the one of the connection that opened
// the session: on that connection (the usual case: a client keeps its
// connection) an exchange runs inline in the connection's coroutine; on
// another, it is spawned onto the strand and awaited.
// Counters are atomics so snapshots can be read from any thread.
//
// Bounds: every queue of server messages (a POST's answer stream, the GET
// stream, the buffer kept while no stream is open, the replay buffer) is
// bounded by --stream-buffer-bytes. A client that falls further behind loses
// that stream (the loss is counted and logged); the session goes on.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "base/byte_queue.hpp"
#include "base/hooks.hpp"
#include "base/logger.hpp"
#include "base/metrics.hpp"
#include "base/net.hpp"
#include "config/config.hpp"
#include "io/conn_buffer.hpp"
#include "io/one_shot.hpp"
#include "io/resume_slot.hpp"
#include "protocol/era.hpp"
#include "protocol/message.hpp"
#include "session/session_record.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

namespace beast = boost::beast;
namespace http = beast::http;
using http_request = http::request<http::string_body>;

class http_session : public std::enable_shared_from_this<http_session>, private upstream::sink {
  // tests/unit/test_session.cpp: admits a POST's requests and watches where
  // server messages go, with no socket (serve_post itself writes to one).
  friend struct http_session_probe;

 public:
  // Called twice: when the session starts closing (finished = false: its id
  // must stop routing) and when its upstream has been reaped (finished = true).
  using closed_fn =
      std::function<void(const std::string& id, const std::string& reason, bool finished)>;

  // Makes the upstream (throws api_error on failure). `home`: the strand the
  // session lives on. `cfg`, `log` and `metrics` outlive the session.
  http_session(session_strand home, std::string id, session_transport transport,
               const upstream_factory& make_upstream, const proxy_config& cfg, const logger& log,
               proxy_metrics& metrics, closed_fn on_closed);
  ~http_session() override;

  const std::string& id() const noexcept { return rec_.id(); }
  session_transport transport() const noexcept { return transport_; }
  session_kind kind() const noexcept { return rec_.kind(); }
  const session_counters& counters() const noexcept { return n_; }
  session_strand& strand() noexcept { return strand_; }
  void start();

  // Run on strand(): answer one HTTP request of this session on `stream`.
  // `buf` is the connection's read buffer: bytes the client sends while its
  // POST is waiting (the next request) are kept there. `msg` is the
  // classified body. True if the connection may carry another request.
  net::awaitable<bool> serve_post(beast::tcp_stream& stream, conn_buffer& buf,
                                  const http_request& req, message msg, bool accept_sse);
  net::awaitable<void> serve_get(beast::tcp_stream& stream, const http_request& req);
  // Legacy HTTP+SSE (2024-11-05): this session's one event stream. It starts
  // with the `endpoint` event naming where to POST; every server message,
  // responses included, goes out on it; the session ends when it closes.
  net::awaitable<void> serve_legacy_stream(beast::tcp_stream& stream, const http_request& req,
                                           std::string endpoint);
  net::awaitable<bool> serve_delete(beast::tcp_stream& stream, const http_request& req);

  // A stateless instance (transport stateless): its isolation key's label,
  // set before the first request.
  void set_key_label(std::string label) { rec_.set_key_label(std::move(label)); }
  // A named server's session (config file): its server's name (in the
  // snapshot) and the owner of `cfg`, kept until the session is destroyed.
  // Set before the session is shared.
  void bind_server(std::string name, std::shared_ptr<const void> owner) {
    rec_.set_server(std::move(name));
    owner_ = std::move(owner);
  }
  const std::string& server() const noexcept { return rec_.server(); }
  const proxy_config& config() const noexcept { return cfg_; }
  // A stateless instance: what its era probe found (auto), or what was
  // configured. Read on the strand, or after serve_post returned.
  enum class era_verdict : std::uint8_t { unknown, probing, modern, legacy };
  era_verdict verdict() const noexcept { return verdict_.load(); }
  // Bridging (session/bridge_legacy_upstream.cpp): a new instance of a key
  // whose upstream is known to serve only the session era skips the probe;
  // bridged() once it holds a session-era session for its modern clients.
  void assume_legacy() noexcept;
  bool bridged() const noexcept { return bridged_.load(); }

  // Any thread: end the session (upstream terminated). Idempotent.
  void close(close_cause cause, std::string reason);
  // Any thread: let the requests in flight finish, then close; close anyway
  // (answering what is left with a JSON-RPC error) once `deadline` passes.
  void drain(std::chrono::milliseconds deadline);

  // Any thread: lock-free reads for the registry.
  session_state current_state() const noexcept { return rec_.state(); }
  bool idle_for(std::chrono::steady_clock::duration d) const noexcept { return rec_.idle_for(d); }
  std::string snapshot_json() const;

 private:
  // One HTTP exchange waiting for server messages: a POST waiting for its
  // response(s) (and, when the client accepts SSE, the messages related to
  // it), or an event stream (GET, legacy SSE). Only touched on the strand.
  struct waiter : std::enable_shared_from_this<waiter> {
    waiter(const net::any_io_executor& ex, std::size_t bound) : q(bound), wake(ex) {}
    byte_queue<std::string> q;     // messages to stream before the response
    std::vector<std::string> ids;  // its request ids (answered ones leave by_id_)
    // The metric_methods() index of its client request (a batch: of each, by
    // id); none for a request of mcpfwd's own.
    std::optional<std::uint8_t> method;
    std::unordered_map<std::string, std::uint8_t> batch_methods;
    const std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::size_t pending = 0;             // of those, still unanswered
    std::vector<std::string> tokens;     // progress tokens of its requests
    std::vector<std::string> responses;  // final responses, in arrival order
    bool batch = false, accept_sse = false;
    // Stateless instances: the client's own request id and progress token (its
    // one request has upstream id ids[0]); a listen stream has no timeout.
    std::string client_id, client_token;
    bool listen = false;
    bool own = false;  // a request of mcpfwd's own (era probe, tools/list)
    // Bridged instances: the client request's method, name, capabilities.
    std::string method_name, name, client_caps;
    // --request-timeout-ms: from the request, moved on by each message about it
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    bool done = false;         // end now (session closing, a newer stream)
    bool overflowed = false;   // the client fell behind by more than the bound
    bool client_gone = false;  // the client closed its connection (or a write failed)
    bool watching = false;     // a watch_client read is pending
    bool stop_watch = false;   // do not re-arm it
    std::array<char, 256> scratch{};
    // The client connection it streams to, while it does: a stream over its
    // bound is cut there (a write to a client that stopped reading may be
    // pending, and would otherwise hold until the write deadline).
    beast::tcp_stream* stream = nullptr;
    net::steady_timer wake;
    // await_answers waits here (`wake` then bounds the wait): notify()
    // completes it, deferred to http_session::deliveries_end while the
    // session is delivering what one read of the server brought.
    resume_slot resume;
    http_session* session = nullptr;  // set by await_answers
    bool queued = false;              // in the session's resumes_
    // The end of the wait on `resume` (max: none). A keep-alive ping's is
    // kept by `wake` (wake_armed); a request deadline's by the session's
    // deadline timer (arm_deadlines), which no answer has to cancel.
    std::chrono::steady_clock::time_point wait_until = std::chrono::steady_clock::time_point::max();
    bool wake_armed = false;
    void notify();
  };
  using waiter_ptr = std::shared_ptr<waiter>;

  net::awaitable<void> supervise();
  // Stateless instances: settle the upstream's era (probe it once, in auto
  // mode); false when it serves only the session era.
  net::awaitable<bool> settle_era();
  // Stateless instances: the client's request gets an id (and progress
  // token) unique on the upstream; the client's own are kept to map back.
  void rewrite_for_upstream(const waiter_ptr& w, message& m);
  // Stateless: a server message about one request, with the client's ids back.
  void route_stateless(message msg);
  // Stateless: the client's notifications/cancelled, mapped to the upstream id.
  void forward_cancel(const message& m);
  // Stateless: a tools/call's Mcp-Param-* headers against its arguments
  // (SEP-2243), with the tools' annotations learned from the upstream's
  // tools/list (fetched by mcpfwd once, again after a list change).
  net::awaitable<std::optional<std::string>> check_param_headers_of(const http_request& req,
                                                                    const message& msg);
  net::awaitable<void> learn_tools();
  // Stateless: one request of mcpfwd's own to the instance; its answer, or
  // "" when none came within `timeout`.
  net::awaitable<std::string> own_request(std::string method, json::object params,
                                          std::chrono::steady_clock::duration timeout);
  net::awaitable<void> stream_out(beast::tcp_stream& stream, const http_request& req,
                                  std::string prelude);
  // A GET stream event whose write failed: its text for the next stream, or
  // "" when a resumed stream resent it already.
  std::string take_unsent(std::uint64_t seq);
  // serve_post's parts. Admits a POST's messages: its requests go in flight (refused when their
  // id already is), routed back to `w`. False when a lone request is refused.
  bool admit_requests(const waiter_ptr& w, std::vector<message>& parts);
  net::awaitable<bool> reply_now(beast::tcp_stream& stream, const http_request& req,
                                 http::status st, std::string body);
  net::awaitable<bool> stream_event(beast::tcp_stream& stream, const http_request& req, bool& sse,
                                    const std::string& json);
  // Stateless: a ": keep-alive" comment (the SSE head first, if not yet sent).
  net::awaitable<bool> keep_alive_comment(beast::tcp_stream& stream, const http_request& req,
                                          bool& sse);
  // The id a client knows for upstream id `up` of its exchange.
  const std::string& client_id_of(const waiter_ptr& w, const std::string& up) const;
  // Waits for `w`'s answers, streaming events as they come, until all are in,
  // the client left, or the request's deadline. With `watch` (a POST's
  // connection buffer), the client is watched (watch_client) once the answers
  // take longer than client_watch_delay: most answers come sooner, and a read
  // armed and cancelled on every call costs more than the call's own path.
  net::awaitable<void> await_answers(beast::tcp_stream& stream, const http_request& req,
                                     const waiter_ptr& w, bool& sse, conn_buffer* watch = nullptr);
  // POSTs whose clients are to be watched from `from` on. One timer for the
  // session (watch_tick_, made on first use) starts their watches, so a call
  // answered sooner arms no timer of its own.
  struct unwatched {
    waiter_ptr w;
    beast::tcp_stream* stream;
    conn_buffer* buf;
    std::chrono::steady_clock::time_point from;
  };
  void watch_later(beast::tcp_stream& stream, conn_buffer* buf, const waiter_ptr& w);
  void unwatch(const waiter* w);
  void arm_watch_tick(std::chrono::steady_clock::time_point at);
  void on_watch_tick();
  // Request deadlines (await_answers): one session timer, armed for the
  // earliest and never cancelled by an answer (cancelling would post a
  // handler per request); when it fires it ends the waits that are due and
  // re-arms for the next.
  void arm_deadlines(std::chrono::steady_clock::time_point at);
  void on_deadlines();
  // Notices a client that closes its connection while its exchange waits
  // (a read completes only then). With `buf` (a POST), bytes the client
  // sends meanwhile are kept for its next request; without (an event
  // stream), they are discarded.
  void watch_client(beast::tcp_stream& stream, conn_buffer* buf, const waiter_ptr& w);
  net::awaitable<void> stop_watching(beast::tcp_stream& stream, const waiter_ptr& w);
  // A request of `w` is over: no longer in flight, counted with its outcome.
  bool unmap(const std::string& id, const waiter_ptr& w, request_outcome outcome);
  void forget(const waiter_ptr& w, request_outcome outcome, const char* cancel_reason);
  // Legacy HTTP+SSE: requests are answered on the session's stream, not on
  // their POST; their methods and start times are kept here (bounded).
  void legacy_request(const message_info& mi);
  void legacy_answer(const message_info& mi);
  // upstream::sink
  net::awaitable<void> on_server_message(message msg) override;
  bool delivers_now() const noexcept override { return true; }
  void on_server_message_now(message msg) override;
  void deliveries_begin() override { ++delivering_; }
  void deliveries_end(bool now) override;
  void on_server_rejected(const classify_error* err, std::string_view line) override;
  void route(message msg);  // a message from the server
  // Queues a server message on an exchange's stream; false if it did not fit
  // (the stream is then ended and what it held is lost).
  bool to_stream(const waiter_ptr& w, message& msg);
  void to_event_stream(message msg);  // the GET/legacy stream, else the buffer
  void lost(const message& msg);
  void cancel_upstream(const std::string& id, const char* reason);
  void do_close(close_cause cause, const std::string& reason);
  // The head of a response of this session: a body of `length` bytes (none:
  // a chunked text/event-stream), of Content-Type `type` (empty: none).
  std::string response_head(const http_request& req, http::status st, std::string_view type,
                            bool keep_alive, std::optional<std::size_t> length) const;
  // The head of a text/event-stream response (false: the write failed).
  net::awaitable<bool> write_sse_head(beast::tcp_stream& stream, const http_request& req,
                                      bool keep_alive);

  // Bridging a modern client to a session-era upstream (defined in
  // session/bridge_legacy_upstream.cpp).
  struct bridge_state;
  struct bridge_step {
    http::status status = http::status::ok;
    std::string reply;     // answered by mcpfwd: this body
    bool resumed = false;  // an MRTR retry: the waiter took over its call
  };
  // initialize + notifications/initialized, once; false when it failed.
  net::awaitable<bool> bridge_open(const message& first);
  // Before a bridged request is admitted: answered locally, resumed, or
  // translated in place (msg) for the upstream.
  net::awaitable<bridge_step> bridge_admit(const waiter_ptr& w, message& msg);
  net::awaitable<bool> bridge_listen(beast::tcp_stream& stream, conn_buffer& buf,
                                     const http_request& req, const waiter_ptr& w,
                                     const message& msg);
  // route_stateless: a server message the bridge takes (true) or not.
  bool bridge_route(message& msg);
  void bridge_server_request(const message& msg);
  void bridge_give_up(std::uint64_t seq, const std::string& why);
  void bridge_close();

  std::shared_ptr<const void> owner_;  // first member: destroyed last (it owns cfg_)
  session_strand strand_;
  session_record rec_;
  session_counters& n_;  // rec_'s counters
  session_transport transport_;
  const proxy_config& cfg_;
  const logger& log_;
  proxy_metrics& metrics_;
  closed_fn on_closed_;
  std::unique_ptr<upstream> upstream_;
  waiter_ptr get_stream_;        // the open GET (or legacy) stream
  std::list<waiter_ptr> posts_;  // POSTs in flight, oldest first
  // Inside deliveries_begin/end: waiters notified meanwhile, resumed at the end.
  int delivering_ = 0;
  std::vector<waiter_ptr> resumes_;
  std::unordered_map<std::string, waiter_ptr> by_id_;     // request id -> its POST
  std::unordered_map<std::string, waiter_ptr> by_token_;  // progress token -> its POST
  byte_queue<std::string> buffer_;                        // server messages with no stream to go to
  // GET stream events already written, for Last-Event-ID resumption.
  static constexpr std::size_t replay_limit = 256;
  byte_queue<std::pair<std::uint64_t, std::string>> sent_;
  std::uint64_t get_seq_ = 0;
  std::uint64_t replayed_through_ = 0;  // the newest event a resumed stream resent
  bool closing_ = false;
  bool draining_ = false;
  // Stateless instances.
  std::uint64_t next_upstream_id_ = 1;
  std::atomic<era_verdict> verdict_{era_verdict::unknown};
  std::atomic<bool> bridged_{false};
  std::shared_ptr<bridge_state> bridge_;
  // Bridged: input_required round trips waiting for the client's retry.
  std::atomic<std::uint32_t> bridge_pending_{0};
  std::atomic<std::uint64_t> bridge_pending_bytes_{0}, bridge_given_up_{0};
  waiter_ptr probe_;  // the era probe while it waits
  // Stateless: the Mcp-Param annotations of each tool, once learned.
  std::unordered_map<std::string, std::vector<param_header>> tool_params_;
  bool tools_known_ = false, learning_tools_ = false;
  std::vector<net::steady_timer*> era_waiters_;  // requests waiting for the probe
  std::vector<unwatched> unwatched_;             // watch_later()
  std::unique_ptr<net::steady_timer> watch_tick_;
  bool watch_tick_armed_ = false;
  std::unique_ptr<net::steady_timer> deadlines_;
  std::chrono::steady_clock::time_point deadlines_at_ =
      std::chrono::steady_clock::time_point::max();
  std::string close_reason_;
  close_cause cause_ = close_cause::internal;
  struct legacy_pending {
    std::size_t method;
    std::chrono::steady_clock::time_point start;
  };
  std::unordered_map<std::string, legacy_pending> legacy_pending_;
};

}  // namespace mcpfwd
