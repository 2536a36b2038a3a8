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

#include "child_process.hpp"
#include "logger.hpp"
#include "net.hpp"

namespace mcpfwd {

class stdio_session;

struct proxy_config {
  spawn_options upstream;             // the server command
  int stdio_in = -1, stdio_out = -1;  // downstream stdio descriptors (borrowed)
  std::size_t max_message_bytes = 4u << 20;
  std::chrono::milliseconds shutdown_grace{2000};
  log_level level = log_level::info;
  logger::sink_fn log_sink;  // empty: standard error
};

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
  // Joins the I/O threads (after the session finished, or forcing it).
  void join() noexcept;

 private:
  void finished(int code);

  proxy_config cfg_;
  logger log_;
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::vector<std::thread> pumps_;  // copy threads for descriptors epoll cannot watch
  std::shared_ptr<stdio_session> session_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool started_ = false, done_ = false;
  int exit_code_ = 0;
};

}  // namespace mcpfwd
