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
#include "io/http_client.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

class stdio_session;
class http_server;
class admin_server;

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
  // Joins the I/O threads (after the session finished, or forcing it).
  void join() noexcept;

 private:
  void finished(int code);
  upstream_factory make_upstream_factory();
  std::unique_ptr<upstream> bridged(std::unique_ptr<upstream> up,
                                    const net::strand<net::any_io_executor>& strand,
                                    const std::string& prefix) const;
  void start_http();
  void run_threads(unsigned n);

  proxy_config cfg_;
  logger log_;
  proxy_metrics metrics_;  // before ioc_: sessions in its handlers count into it
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::vector<std::thread> pumps_;  // copy threads for descriptors epoll cannot watch
  std::shared_ptr<stdio_session> session_;
  std::shared_ptr<http_server> http_;
  std::shared_ptr<admin_server> admin_;
  std::shared_ptr<http_client> client_;   // remote upstream: the connection pool
  std::shared_ptr<group_killer> strays_;  // server command: groups outliving their server
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool started_ = false, done_ = false;
  int exit_code_ = 0;
};

}  // namespace mcpfwd
