// The HTTP listener and the session registry. The listener accepts
// connections (up to --max-connections), reads each request's head within
// the header deadline, lets the router decide, answers refusals before any
// body is read, reads the body within the body deadline, and hands the
// request to its session. The registry admits sessions up to
// --max-sessions, finds them by id (on their own transport), reaps idle
// ones, and gives snapshots.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "base/hooks.hpp"
#include "base/metrics.hpp"
#include "config/config.hpp"
#include "server/metrics_text.hpp"
#include "server/router.hpp"
#include "server/upstream_site.hpp"
#include "session/http_session.hpp"

namespace mcpfwd {

class http_server : public std::enable_shared_from_this<http_server> {
 public:
  // Binds and listens at once (throws api_error(errc::io) on failure).
  // `cfg`, `log` and `metrics` outlive the server.
  // `remote`: the remote upstream's client (null for a server command),
  // which stateless-era requests are forwarded through.
  // `contexts`: the io_contexts that accepted connections (and the sessions
  // opened on them) are spread over, one per I/O thread; empty: {&ioc}.
  http_server(net::io_context& ioc, const proxy_config& cfg, upstream_factory make_upstream,
              std::shared_ptr<http_client> remote, const logger& log, proxy_metrics& metrics,
              std::vector<net::io_context*> contexts = {});
  void start();
  // Any thread: what new sessions are opened on from now on (the default
  // upstream and the named servers of the config file). Sessions already
  // open keep their own site; a server no longer listed takes no new
  // session (404) while its live ones finish.
  void set_sites(std::shared_ptr<const site_table> sites);
  std::shared_ptr<const site_table> sites() const;  // never null
  // Stop accepting and close every session; `on_done` runs once all
  // sessions have finished (upstreams reaped). Any thread.
  void shutdown(std::function<void()> on_done);

  std::string url() const;
  std::string sessions_json() const;
  // Empty when there is no such session.
  std::string session_json(const std::string& id) const;
  bool close_session(const std::string& id);
  std::size_t session_count() const;
  // Listener figures: connections open, refused, the limit; refusals by reason.
  json::object stats() const;

  // /readyz: whether new sessions are taken now.
  enum class readiness : std::uint8_t { ready, draining, full };
  readiness ready() const;
  // The registry's and the listener's metric families (docs/operations.md):
  // sessions by state and kind, connections, rejections, and the message,
  // byte and drop totals (ended sessions' plus live ones').
  void write_metrics(prom_text& out) const;

 private:
  struct connection;  // one accepted connection (counted while it lives)
  net::awaitable<void> accept_loop();
  void refuse_connection(int fd);  // counts it and writes the 503
  net::awaitable<void> serve_connection(net::ip::tcp::socket sock, std::size_t ctx);
  // One request on `c` (its first bytes are buffered); false: the connection ends.
  net::awaitable<bool> serve_request(connection& c);
  // The transport of session `id`, if it is one of ours (the router's session_lookup).
  std::optional<session_transport> transport_of(std::string_view id) const;
  template <class Socket>
  void spawn_connection(Socket sock, std::size_t ctx);  // on context ctx, counted there
  std::size_t least_loaded_context() const noexcept;
  net::awaitable<bool> answer(connection& c, const http_request& req, const http_refusal& r);
  net::awaitable<bool> dispatch(connection& c, route r, http_request& req);
  // Run `a`, a coroutine of `s`, on the session's strand: inline when the
  // connection shares it (no hop), else spawned there and awaited.
  template <class T>
  static net::awaitable<T> on_session(const connection& c, http_session& s, net::awaitable<T> a);
  net::awaitable<void> reap_loop();
  // Admit and start a new session, or the refusal to answer.
  // `home`: the strand of the connection that opens it, which the session
  // shares (docs/architecture.md: a call on that connection never hops).
  std::variant<std::shared_ptr<http_session>, http_refusal> open_session(
      const session_strand& home, const std::shared_ptr<const upstream_site>& site,
      session_transport transport, std::string_view id_json, std::string key_label = {});
  std::shared_ptr<http_session> find(const std::string& id) const;
  // The stateless era: the request's isolation key (and its label), and
  // the upstream instance serving that key (opened on first use).
  std::pair<std::string, std::string> isolation_key(const upstream_site& site,
                                                    const http_request& req) const;
  std::variant<std::shared_ptr<http_session>, http_refusal> instance_for(
      const session_strand& home, const std::shared_ptr<const upstream_site>& site,
      const http_request& req, std::string_view id_json);
  net::awaitable<bool> serve_modern(connection& c, route& r, http_request& req);
  net::awaitable<bool> reply_accepted(connection& c, const http_request& req);
  void on_session_event(const std::string& id, const std::string& reason, bool finished);
  void count(reject_reason r) noexcept;

  net::io_context& ioc_;
  std::vector<net::io_context*> contexts_;
  std::unique_ptr<std::atomic<std::size_t>[]> context_load_;  // connections on each
  const proxy_config& cfg_;
  proxy_metrics& metrics_;
  const logger& log_;
  net::ip::tcp::acceptor acceptor_;
  net::steady_timer reaper_;
  std::uint16_t bound_port_ = 0;
  std::size_t max_connections_ = 0;
  std::unique_ptr<router> router_;

  std::atomic<std::size_t> connections_{0};
  std::atomic<std::uint64_t> connections_total_{0}, connections_refused_{0};
  std::array<std::atomic<std::uint64_t>, reject_reason_count> rejected_{};

  mutable std::mutex m_;
  // By session id, found from a request's header without copying it.
  struct id_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using session_map =
      std::unordered_map<std::string, std::shared_ptr<http_session>, id_hash, std::equal_to<>>;
  session_map sessions_;  // routable
  // Closing (no longer routable: their id answers 404) until their upstream
  // is reaped; still listed by inspection, in state "draining".
  session_map closing_;
  // Stateless-era instances: isolation key -> session id, and back.
  std::unordered_map<std::string, std::string> instances_, instance_keys_;
  std::unordered_set<std::string> opening_;  // keys whose instance is being opened
  // --upstream-era auto: when a probe last found a session-era-only
  // upstream (modern requests are then refused without spawning, for a while).
  // (per site name)
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> legacy_seen_;
  std::shared_ptr<const site_table> sites_;
  std::unordered_map<std::string, std::size_t> per_site_;  // admitted, not finished, per site
  // --upstream-era auto toward a remote server, per site name: when it was
  // last probed, and whether it then served the stateless era (else: bridged).
  std::unordered_map<std::string, std::pair<std::chrono::steady_clock::time_point, bool>>
      remote_probed_;
  net::awaitable<bool> remote_serves_legacy(const upstream_site& site);
  std::size_t live_ = 0;      // admitted and not yet finished (includes draining)
  std::size_t starting_ = 0;  // admitted, upstream being spawned
  bool stopping_ = false;
  std::atomic<bool> stopping_flag_{false};  // stopping_, readable without the lock
  std::function<void()> on_done_;
};

}  // namespace mcpfwd
