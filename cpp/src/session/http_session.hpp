// One HTTP session: a downstream MCP client known by its session id (a
// Streamable HTTP Mcp-Session-Id, or a legacy HTTP+SSE sessionId), bound to
// its own upstream.
//
// All state lives on the session's strand. HTTP exchanges that concern the
// session (POST, GET stream, DELETE) are run on that strand by the listener
// (co_spawn onto strand(), awaited by the connection), so the socket is only
// ever touched by one coroutine at a time and session code takes no locks.
// Counters are atomics so snapshots can be read from any thread.
//
// Bounds: every queue of server messages (a POST's answer stream, the GET
// stream, the buffer kept while no stream is open, the replay buffer) is
// bounded by --stream-buffer-bytes. A client that falls further behind loses
// that stream (the loss is counted and logged); the session goes on.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "base/byte_queue.hpp"
#include "base/hooks.hpp"
#include "base/logger.hpp"
#include "base/net.hpp"
#include "config/config.hpp"
#include "io/one_shot.hpp"
#include "protocol/message.hpp"
#include "session/session_record.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

namespace beast = boost::beast;
namespace http = beast::http;
using http_request = http::request<http::string_body>;

class http_session : public std::enable_shared_from_this<http_session>, private upstream::sink {
 public:
  // Called twice: when the session starts closing (finished = false: its id
  // must stop routing) and when its upstream has been reaped (finished = true).
  using closed_fn =
      std::function<void(const std::string& id, const std::string& reason, bool finished)>;

  // Makes the upstream (throws api_error on failure). `cfg` and `log`
  // outlive the session.
  http_session(net::any_io_executor ex, std::string id, session_transport transport,
               const upstream_factory& make_upstream, const proxy_config& cfg, const logger& log,
               closed_fn on_closed);
  ~http_session() override;

  const std::string& id() const noexcept { return rec_.id(); }
  session_transport transport() const noexcept { return transport_; }
  net::strand<net::any_io_executor>& strand() noexcept { return strand_; }
  void start();

  // Run on strand(): answer one HTTP request of this session on `stream`.
  // `buf` is the connection's read buffer: bytes the client sends while its
  // POST is waiting (the next request) are kept there. `msg` is the
  // classified body. True if the connection may carry another request.
  net::awaitable<bool> serve_post(beast::tcp_stream& stream, beast::flat_buffer& buf,
                                  const http_request& req, message msg, bool accept_sse);
  net::awaitable<void> serve_get(beast::tcp_stream& stream, const http_request& req);
  // Legacy HTTP+SSE (2024-11-05): this session's one event stream. It starts
  // with the `endpoint` event naming where to POST; every server message,
  // responses included, goes out on it; the session ends when it closes.
  net::awaitable<void> serve_legacy_stream(beast::tcp_stream& stream, const http_request& req,
                                           std::string endpoint);
  net::awaitable<bool> serve_delete(beast::tcp_stream& stream, const http_request& req);

  // Any thread: end the session (upstream terminated). Idempotent.
  void close(std::string reason);
  // Any thread: let the requests in flight finish, then close; close anyway
  // (answering what is left with a JSON-RPC error) once `deadline` passes.
  void drain(std::chrono::milliseconds deadline);

  // Any thread: lock-free reads for the registry.
  session_state current_state() const noexcept { return rec_.state(); }
  bool idle_for(std::chrono::steady_clock::duration d) const noexcept { return rec_.idle_for(d); }
  std::string snapshot_json() const { return rec_.snapshot_json(upstream_->describe()); }

 private:
  struct waiter;  // one POST waiting for its response(s), or one event stream
  using waiter_ptr = std::shared_ptr<waiter>;

  net::awaitable<void> supervise();
  net::awaitable<void> stream_out(beast::tcp_stream& stream, const http_request& req,
                                  std::string prelude);
  // serve_post's parts
  bool admit_requests(const waiter_ptr& w, std::vector<message>& parts);
  net::awaitable<bool> reply_now(beast::tcp_stream& stream, const http_request& req,
                                 http::status st, std::string body);
  net::awaitable<bool> stream_event(beast::tcp_stream& stream, const http_request& req, bool& sse,
                                    const std::string& json);
  net::awaitable<void> await_answers(beast::tcp_stream& stream, const http_request& req,
                                     const waiter_ptr& w, bool& sse);
  // Notices a client that closes its connection while its exchange waits
  // (a read completes only then). With `buf` (a POST), bytes the client
  // sends meanwhile are kept for its next request; without (an event
  // stream), they are discarded.
  void watch_client(beast::tcp_stream& stream, beast::flat_buffer* buf, const waiter_ptr& w);
  net::awaitable<void> stop_watching(beast::tcp_stream& stream, const waiter_ptr& w);
  bool unmap(const std::string& id, const waiter_ptr& w);
  void forget(const waiter_ptr& w, const char* cancel_reason);
  // upstream::sink
  net::awaitable<void> on_server_message(message msg) override;
  void on_server_rejected(const classify_error* err, std::string_view line) override;
  void route(message msg);  // a message from the server
  // Queues a server message on an exchange's stream; false if it did not fit
  // (the stream is then ended and what it held is lost).
  bool to_stream(const waiter_ptr& w, message& msg);
  void to_event_stream(message msg);  // the GET/legacy stream, else the buffer
  void lost(const message& msg);
  void cancel_upstream(const std::string& id, const char* reason);
  void do_close(const std::string& reason);
  template <class Body>
  void stamp(http::response<Body>& res, bool keep_alive) const;

  net::strand<net::any_io_executor> strand_;
  session_record rec_;
  session_counters& n_;  // rec_'s counters
  session_transport transport_;
  const proxy_config& cfg_;
  const logger& log_;
  closed_fn on_closed_;
  std::unique_ptr<upstream> upstream_;
  waiter_ptr get_stream_;                                 // the open GET (or legacy) stream
  std::list<waiter_ptr> posts_;                           // POSTs in flight, oldest first
  std::unordered_map<std::string, waiter_ptr> by_id_;     // request id -> its POST
  std::unordered_map<std::string, waiter_ptr> by_token_;  // progress token -> its POST
  byte_queue<std::string> buffer_;                        // server messages with no stream to go to
  // GET stream events already written, for Last-Event-ID resumption.
  static constexpr std::size_t replay_limit = 256;
  byte_queue<std::pair<std::uint64_t, std::string>> sent_;
  std::uint64_t get_seq_ = 0;
  bool closing_ = false;
  bool draining_ = false;
  std::string close_reason_;
};

}  // namespace mcpfwd
