// One Streamable HTTP session: a downstream MCP client known by its
// Mcp-Session-Id, bound to its own upstream server process.
//
// All state lives on the session's strand. HTTP exchanges that concern the
// session (POST, GET stream, DELETE) are run on that strand by the listener
// (co_spawn onto strand(), awaited by the connection), so the socket is only
// ever touched by one coroutine at a time and session code takes no locks.
// Counters are atomics so snapshots can be read from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "base/logger.hpp"
#include "base/net.hpp"
#include "io/one_shot.hpp"
#include "io/pipe_writer.hpp"
#include "protocol/line_framer.hpp"
#include "protocol/message.hpp"
#include "session/hooks.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

namespace beast = boost::beast;
namespace http = beast::http;
using http_request = http::request<http::string_body>;

struct http_session_options {
  std::size_t max_message_bytes = 4u << 20;
  std::chrono::milliseconds shutdown_grace{2000};
  std::chrono::milliseconds request_timeout{0};  // 0: none
  std::size_t buffer_limit = 1024;               // undelivered server messages kept
  message_fn on_message;                         // sees every message; may be empty
  event_fn on_event;                             // for session_ready; may be empty
};

class http_session : public std::enable_shared_from_this<http_session>, private upstream::sink {
 public:
  enum class state : std::uint8_t { starting, ready, draining, closed };
  // Called twice: when the session starts closing (finished = false: its id
  // must stop routing) and when its upstream has been reaped (finished = true).
  using closed_fn =
      std::function<void(const std::string& id, const std::string& reason, bool finished)>;

  // Makes the upstream (throws api_error on failure).
  http_session(net::any_io_executor ex, std::string id, const upstream_factory& make_upstream,
               http_session_options opts, const logger& log, closed_fn on_closed);
  ~http_session() override;

  const std::string& id() const noexcept { return id_; }
  net::strand<net::any_io_executor>& strand() noexcept { return strand_; }
  void start();

  // Run on strand(): answer one HTTP request of this session on `stream`.
  // `msg` is the already-classified body for POST.
  net::awaitable<void> serve_post(beast::tcp_stream& stream, const http_request& req, message msg,
                                  bool accept_sse);
  net::awaitable<void> serve_get(beast::tcp_stream& stream, const http_request& req);
  // Legacy HTTP+SSE (2024-11-05): this session's one event stream. It starts
  // with the `endpoint` event naming where to POST; every server message,
  // responses included, goes out on it; the session ends when it closes.
  net::awaitable<void> serve_legacy_stream(beast::tcp_stream& stream, const http_request& req,
                                           std::string endpoint);
  net::awaitable<void> serve_delete(beast::tcp_stream& stream, const http_request& req);
  // The client's Authorization header (forwarded upstream only when the
  // upstream was configured so). On strand().
  void client_authorization(std::string_view value) { upstream_->set_client_authorization(value); }

  // Any thread: end the session (upstream terminated). Idempotent.
  void close(std::string reason);
  // Any thread: let the requests in flight finish, then close; close anyway
  // (answering what is left with a JSON-RPC error) once `deadline` passes.
  void drain(std::chrono::milliseconds deadline);

  // Any thread: lock-free reads for the registry.
  state current_state() const noexcept { return state_.load(); }
  bool idle_for(std::chrono::steady_clock::duration d) const noexcept;
  std::string snapshot_json() const;  // any thread

 private:
  struct waiter;  // one POST waiting for its response(s) or one GET stream
  net::awaitable<void> supervise();
  net::awaitable<void> stream_out(beast::tcp_stream& stream, const http_request& req,
                                  std::string prelude);
  // upstream::sink
  net::awaitable<void> on_server_message(message msg) override;
  void on_server_rejected(const classify_error* err, std::string_view line) override;
  void route(message msg);  // a message from the server
  void deliver(const std::shared_ptr<waiter>& w, std::string json);
  void do_close(const std::string& reason);
  void touch() noexcept;
  template <class Body>
  void stamp(http::response<Body>& res, int version, bool keep_alive) const;

  net::strand<net::any_io_executor> strand_;
  std::string id_;
  http_session_options opts_;
  const logger& log_;
  closed_fn on_closed_;
  std::unique_ptr<upstream> upstream_;
  std::shared_ptr<waiter> get_stream_;                              // the open GET stream
  std::list<std::shared_ptr<waiter>> posts_;                        // POSTs in flight, oldest first
  std::unordered_map<std::string, std::shared_ptr<waiter>> by_id_;  // request id -> its POST
  std::unordered_map<std::string, std::shared_ptr<waiter>> by_token_;  // progress token -> its POST
  std::deque<std::string> buffer_;  // server messages with no stream to go to
  // GET stream events already written, for Last-Event-ID resumption.
  static constexpr std::size_t replay_limit = 256;
  std::deque<std::pair<std::uint64_t, std::string>> sent_;
  std::uint64_t get_seq_ = 0;
  bool closing_ = false;
  bool draining_ = false;
  bool legacy_ = false;  // HTTP+SSE: POSTs get 202, everything flows on the one stream
  std::string close_reason_;
  std::string init_id_;  // the client's initialize request, until it is answered

  const std::chrono::system_clock::time_point created_;
  std::atomic<std::int64_t> last_activity_ns_;  // steady clock, for idleness
  std::atomic<std::int64_t> last_activity_ms_;  // wall clock, for display
  std::atomic<state> state_{state::starting};
  std::atomic<std::uint64_t> c2s_messages_{0}, c2s_bytes_{0}, s2c_messages_{0}, s2c_bytes_{0};
  std::atomic<std::uint64_t> errors_{0}, dropped_{0};
  std::atomic<std::uint32_t> in_flight_{0}, open_streams_{0};
  std::string upstream_end_;  // how the upstream ended; set once, before state_ = closed
};

const char* to_string(http_session::state s) noexcept;

}  // namespace mcpfwd
