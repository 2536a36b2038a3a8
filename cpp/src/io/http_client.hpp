// The client side of HTTP upstreams, shared by every session of a proxy:
// the options, the TLS context, and a keep-alive connection pool per
// upstream origin (scheme, host, port).
//
// Pool rules:
// - At most `pool_max` connections per origin carry POSTs and DELETEs;
//   callers queue (FIFO) when all are busy, for at most the upstream
//   timeout.
// - A POST carrying a request can hold its connection for as long as the
//   upstream streams the answer, and the answer may need the client's
//   reply to a server request (sampling) to complete: so requests may take
//   at most pool_max - 1 connections (pool_max >= 2), and the last one is
//   always left for responses and notifications, which finish at once. A
//   response or notification never queues behind requests held back so.
// - Idle connections are reused newest first; one the upstream closed is
//   noticed before reuse (a peek) and replaced.
// - Long-lived SSE streams (a session's GET stream, a legacy SSE stream)
//   get a dedicated connection of their own, outside the pool.
// Thread safety: every member function may be called from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/url.hpp>

#include "base/logger.hpp"
#include "base/net.hpp"

namespace mcpfwd {

namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;

enum class upstream_transport : std::uint8_t {
  auto_detect,      // POST initialize; 400/404/405 => legacy SSE (spec §Backwards Compatibility)
  streamable_http,  // 2025-03-26 and later
  sse               // 2024-11-05 HTTP+SSE
};
const char* to_string(upstream_transport t) noexcept;

struct remote_options {
  std::string url;  // http:// or https://
  upstream_transport transport = upstream_transport::auto_detect;
  std::vector<std::pair<std::string, std::string>> headers;  // sent on every request
  bool forward_authorization = false;  // the client's Authorization header goes upstream
  std::string ca_file;                 // empty: the system store
  bool insecure = false;               // no certificate verification
  std::size_t pool_max = 128;          // per origin
  std::chrono::milliseconds connect_timeout{10000};  // TCP connect + TLS handshake
  std::chrono::milliseconds timeout{120000};         // until the response headers arrive
  std::size_t max_message_bytes = 4u << 20;
};

struct origin {
  bool tls = false;
  std::string host;  // as connected to (no brackets around IPv6)
  std::string port;
  std::string url_host;     // as in a URL: IPv6 in brackets
  std::string host_header;  // the Host header value
  std::string key() const { return (tls ? "https://" : "http://") + url_host + ":" + port; }
};
// Throws api_error(invalid_arg) unless `u` is an absolute http(s) URL.
origin origin_of(const boost::urls::url_view& u);

// One connection to an upstream, plain or TLS.
class http_conn {
 public:
  http_conn(net::any_io_executor ex, ssl::context* tls);
  bool tls() const noexcept { return secure_ != nullptr; }
  beast::tcp_stream& tcp() noexcept { return secure_ ? secure_->next_layer() : *plain_; }
  // Calls f(stream) with the plain or the TLS stream; both branches must
  // return the same type.
  template <class F>
  decltype(auto) with(F&& f) {
    if (secure_) return f(*secure_);
    return f(*plain_);
  }
  // The peer closed it, or sent bytes nobody asked for: not reusable.
  bool stale() noexcept;
  void close() noexcept;

  beast::flat_buffer buffer;  // bytes read past the last response
  std::string origin_key;
  std::chrono::steady_clock::time_point idle_since{};
  std::uint64_t uses = 0;

 private:
  friend class http_client;
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure_;
};

struct conn_result {
  std::unique_ptr<http_conn> conn;
  std::string error;    // why there is no connection
  bool reused = false;  // it had carried an exchange before
};

class http_client : public std::enable_shared_from_this<http_client> {
 public:
  // Validates the options and loads the trust store; throws api_error.
  http_client(net::any_io_executor ex, remote_options opts, const logger& log);
  ~http_client();

  const remote_options& options() const noexcept { return opts_; }
  const boost::urls::url& url() const noexcept { return url_; }

  // A new connection outside the pool (for a long-lived stream).
  net::awaitable<conn_result> connect(origin o);
  // A pooled connection; waits while the pool is full. `request`: the
  // exchange carries a JSON-RPC request (see the reservation rule above).
  net::awaitable<conn_result> acquire(origin o, bool request);
  // Gives a pooled connection back; `reusable` when its last exchange ended
  // cleanly with keep-alive. `request` as passed to acquire().
  void release(std::unique_ptr<http_conn> c, bool request, bool reusable);

  // Pool figures: per origin open, idle, busy connections, connections ever
  // made, exchanges that reused one, acquisitions that waited.
  json::object stats() const;
  // Close idle connections and refuse new ones (proxy shutdown).
  void shutdown() noexcept;

 private:
  struct waiter;
  struct pool {
    std::vector<std::unique_ptr<http_conn>> idle;
    std::deque<std::shared_ptr<waiter>> waiting;
    std::size_t open = 0;           // idle + busy + being connected
    std::size_t busy_requests = 0;  // connections held by request exchanges
    std::uint64_t created = 0, reused = 0, waited = 0, stale = 0;
  };
  net::awaitable<conn_result> open_connection(const origin& o);
  bool may_take(const pool& p, bool request) const noexcept;
  void wake_locked(pool& p);

  net::any_io_executor ex_;
  remote_options opts_;
  const logger& log_;
  boost::urls::url url_;
  std::unique_ptr<ssl::context> tls_;  // when any https is possible
  mutable std::mutex m_;
  std::map<std::string, pool> pools_;
  bool shut_ = false;
  std::atomic<std::uint64_t> streams_{0};  // dedicated connections made
};

}  // namespace mcpfwd
