// The proxy: owns the I/O threads and the session(s). This is the object the
// C ABI wraps; the CLI and every binding reach it only through that ABI.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/hooks.hpp"
#include "base/logger.hpp"
#include "base/metrics.hpp"
#include "base/net.hpp"
#include "config/config.hpp"
#include "config/config_file.hpp"
#include "io/http_client.hpp"
#include "io/spawn_pool.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

class stdio_session;
class http_server;
class admin_server;
struct upstream_site;

class proxy {
 public:
  // Validates the config; throws api_error(errc::invalid_arg) with the reason.
  explicit proxy(proxy_config cfg);
  ~proxy();  // stop(), then join everything
  proxy(const proxy&) = delete;
  proxy& operator=(const proxy&) = delete;

  // Spawns the upstream and starts the I/O thread. Throws api_error.
  void start();
  // Any thread, idempotent, returns at once: begins a graceful shutdown.
  void stop() noexcept;
  // Blocks until finished or the timeout passes; the exit code when finished.
  // Throws api_error(errc::state) if never started.
  std::optional<int> wait(std::optional<std::chrono::milliseconds> timeout);
  std::string stats_json() const;
  // HTTP mode only (empty / "[]" otherwise).
  std::string url() const;
  std::string sessions_json() const;
  std::string session_json(const std::string& id) const;
  bool close_session(const std::string& id);
  // A human-readable table of the proxy and its sessions (format not stable).
  std::string status_text() const;
  // The Prometheus text exposition (format 0.0.4) of the proxy's metrics,
  // as the admin listener's /metrics serves it (docs/operations.md).
  std::string metrics_text() const;
  // The admin listener's base URL ("http://127.0.0.1:9464"); empty without one.
  std::string admin_url() const;
  // Reads the config file again (option "config"): new sessions use the new
  // configuration, open ones keep theirs. Throws api_error (invalid_arg: the
  // file is bad, and the running configuration stays; state: no config file,
  // or not serving HTTP). Counted and logged either way. Any thread.
  void reload();
  // Joins the I/O threads (after the session finished, or forcing it).
  void join() noexcept;

 private:
  void finished(int code);
  upstream_factory make_upstream_factory();
  std::unique_ptr<upstream> bridged(std::unique_ptr<upstream> up, const session_strand& strand,
                                    const std::string& prefix, upstream_era era) const;
  void start_http();
  void run_threads(unsigned n);
  std::shared_ptr<const upstream_site> build_site(std::string name, proxy_config c);

  proxy_config cli_;                       // as given: a reload merges the file under it again
  std::vector<named_server> servers_;      // the config file's named servers, at start
  std::vector<std::string> file_ignored_;  // a host file's keys mcpfwd does not use
  proxy_config cfg_;                       // cli_ with the config file's top level merged in
  logger log_;
  proxy_metrics metrics_;  // before ioc_: sessions in its handlers count into it
  // One io_context per I/O thread, each run by its thread alone (concurrency
  // hint 1: a handler posted from its own thread is queued without waking
  // another). ioc_ is the first: the listeners, the reaper, the remote
  // upstream's pools and the stdio session live there. HTTP mode with N
  // I/O threads adds N-1 (more_ctx_); http_server places each accepted
  // connection, and a session opened on it, on the least loaded one, so a
  // session's exchanges never hop threads. With a remote upstream (whose
  // pooled connections every session shares) there is one io_context, run
  // by all N threads, as before.
  // An io_context whose pending handlers can be destroyed before the context
  // is (what its destructor does first): see ~proxy.
  struct io_context_owned : net::io_context {
    using net::io_context::io_context;
    void destroy_handlers() { shutdown(); }
  };
  io_context_owned ioc_;
  std::vector<std::unique_ptr<io_context_owned>> more_ctx_;
  std::vector<net::executor_work_guard<io_executor>> work_;
  std::vector<std::thread> threads_;
  std::vector<std::thread> pumps_;  // copy threads for descriptors epoll cannot watch
  std::shared_ptr<stdio_session> session_;
  std::shared_ptr<http_server> http_;
  std::shared_ptr<admin_server> admin_;
  std::shared_ptr<http_client> client_;   // remote upstream: the connection pool
  std::shared_ptr<group_killer> strays_;  // server command: groups outliving their server
  std::mutex reload_m_;                   // one reload at a time
  // The named remote servers' pools (config file), shut down at the end.
  std::vector<std::weak_ptr<http_client>> site_clients_;
  std::unique_ptr<spawn_pool> pool_;  // --prespawn: servers started ahead of sessions
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool started_ = false, done_ = false;
  int exit_code_ = 0;
};

}  // namespace mcpfwd
