// One session's upstream on a remote MCP server, over Streamable HTTP
// (2025-03-26 and later) or legacy HTTP+SSE (2024-11-05). The upstream's
// Mcp-Session-Id stays in here: the downstream client never sees it.
//
// Streamable HTTP: every client message is a POST on a pooled connection;
// the answer comes back as JSON or as an SSE stream (progress and server
// requests included) and goes to the sink as it arrives. Once initialized,
// a GET stream on a connection of its own carries server-initiated
// messages (405: the upstream has none). Ending the session sends DELETE.
// A 404 on a session we hold means the upstream expired it: the upstream
// ends, so the downstream session closes and its client re-initializes.
// An answer stream that breaks before the response, and whose events had
// ids, is resumed with GET + Last-Event-ID.
//
// Legacy HTTP+SSE: a GET on the URL opens the session; the `endpoint` event
// says where to POST; everything the server sends comes on that stream.
// The stream closing ends the session (a new stream would be a new,
// uninitialized session, so it is not reconnected).
//
// auto: POST initialize; HTTP 400, 404 or 405 without a session means a
// legacy server, and the initialize is sent again through the SSE stream,
// unless the 400 is -32022 naming only stateless-era versions: a server of
// the stateless era only, whose refusal is the initialize's answer (the
// bridge, bridge_to_modern.hpp, takes it from there).
//
// Ordering: a notification or response is delivered (202) before the next
// message is sent; requests run concurrently, as an HTTP client's do.
#pragma once
#include <atomic>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>
#include "io/one_shot.hpp"

#include "base/logger.hpp"
#include "io/http_client.hpp"
#include "protocol/sse_parser.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

class http_upstream final : public upstream {
 public:
  http_upstream(const net::strand<net::any_io_executor>& strand,
                std::shared_ptr<http_client> client, const logger& log, std::string log_prefix);
  ~http_upstream() override;

  void start(std::shared_ptr<void> owner, sink& out) override;
  net::awaitable<void> send(message msg) override;
  void send_now(std::string raw) override;
  void stop(std::chrono::milliseconds grace, std::shared_ptr<void> owner) override;
  net::awaitable<upstream_end> wait_end(std::chrono::steady_clock::duration drain) override;
  void close() noexcept override;
  json::object describe() const override;  // any thread
  void set_client_authorization(std::string_view value) override;

 private:
  enum class outcome : std::uint8_t { ok, failed, fallback };
  enum class phase : std::uint8_t { idle, connecting, ready };
  enum class get_state : std::uint8_t { none, open, unsupported, failed };
  struct active;  // an exchange in progress, abortable by stop()

  void spawn(net::awaitable<void> task);
  std::function<void(std::exception_ptr)> on_failure(std::shared_ptr<void> owner);
  std::string closed_reason() const;         // why a message can no longer be sent
  std::string post_head(bool legacy) const;  // a POST's head, up to Content-Length
  net::awaitable<void> connect_phase();
  net::awaitable<void> flush();
  net::awaitable<void> dispatch(message msg);
  net::awaitable<outcome> exchange(message msg, bool first);
  net::awaitable<void> get_stream();
  // A GET for an event stream: the session's headers when `session`, and
  // Last-Event-ID when `last_id` is not empty.
  beast::http::request<beast::http::string_body> stream_request(bool session,
                                                                const std::string& last_id) const;
  // Reads SSE events until the body ends (true) or breaks, delivering them;
  // `seen` (if given) counts the events read.
  net::awaitable<bool> pump_events(http_conn& c,
                                   beast::http::response_parser<beast::http::buffer_body>& p,
                                   sse_parser& sp, std::vector<std::string>* answered,
                                   const active& a, std::size_t* seen = nullptr);
  // GET with Last-Event-ID until `unanswered` is answered (a few attempts).
  net::awaitable<void> resume(std::string last_id, std::vector<std::string>& unanswered);
  net::awaitable<void> legacy_stream();
  net::awaitable<void> end_session(std::chrono::milliseconds grace);
  // Hands one message from the upstream to the sink; `answered` loses the
  // ids it answers.
  net::awaitable<void> deliver(std::string data, std::vector<std::string>* answered);
  // An event over the size limit was dropped: counts it and answers what it
  // still needs (a server request refused, a response replaced by an error).
  net::awaitable<void> dropped_oversize(sse_event ev, std::vector<std::string>* answered);
  net::awaitable<void> fail(const std::vector<std::string>& ids, const std::string& why);
  net::awaitable<void> fail_pending(const std::string& why);
  void finish(std::string description, std::string status, int exit_code);
  void abort_request(const std::string& id);
  void abort_all() noexcept;

  net::strand<net::any_io_executor> strand_;
  std::shared_ptr<http_client> client_;
  const remote_options& opts_;
  const logger& log_;
  std::string prefix_;
  std::string shown_url_;  // scheme, host, port and path: no query, for snapshots
  origin origin_;          // of the URL
  std::string target_;     // path and query of the URL
  sink* sink_ = nullptr;
  std::weak_ptr<void> owner_;

  phase phase_ = phase::idle;
  std::deque<message> pending_;  // sent before the upstream session was ready
  std::string session_id_, protocol_version_, client_auth_;
  std::string init_id_;  // id of the initialize request in flight
  // The stateless era (2026-07-28): decided by the client's first request
  // (an enveloped request that is not initialize). Then there is no
  // upstream session, no GET stream, and each POST carries the routing
  // headers of its message.
  bool modern_ = false;
  std::string modern_version_;
  std::string fallback_note_;  // why auto chose legacy SSE
  std::string last_failure_;   // the last exchange that failed, and why
  origin endpoint_origin_;     // legacy: where POSTs go
  std::string endpoint_target_;
  std::list<active*> active_;
  bool stopping_ = false, ended_ = false;
  upstream_end end_;
  one_shot end_event_;
  net::steady_timer retry_timer_;
  std::atomic<upstream_transport> transport_;
  std::atomic<get_state> get_state_{get_state::none};
};

}  // namespace mcpfwd
