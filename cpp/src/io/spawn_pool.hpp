// --prespawn N: server processes started before clients ask for them, so a
// new session skips the spawn. A spawner thread of its own keeps N ready
// (posix_spawnp never runs on an I/O thread for them) and replaces each one a
// session takes; no process is ever handed out twice. A pooled process that
// has exited meanwhile is reaped and skipped. stop() (and the destructor)
// kills and reaps every process still in the pool.
//
// Each process is warmed before it is pooled: the spawner sends it one ping
// (MCP allows a ping before initialize) and reads its answer, so the process
// has been through its request path once (page faults, lazy binding, first
// buffers) and answers the session's first message as fast as its next ones.
// It is pooled once it answered: a process that is still starting up is not
// handed out. A server that does not answer within warm_up_limit, or exits,
// turns warming off for the rest of the run (logged once); the processes are
// then pooled as soon as they are started.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "base/logger.hpp"
#include "io/child_process.hpp"

namespace mcpfwd {

class spawn_pool {
 public:
  // Starts the spawner thread, which starts `target` processes at once.
  // `opts` and `log` outlive the pool.
  spawn_pool(const spawn_options& opts, std::size_t target, const logger& log);
  ~spawn_pool();
  spawn_pool(const spawn_pool&) = delete;
  spawn_pool& operator=(const spawn_pool&) = delete;

  // Any thread, never blocks on a spawn: a started process (still running),
  // or none when the pool is empty. Either way the spawner refills.
  std::optional<spawned_child> take();
  // Processes ready now.
  std::size_t ready() const;
  // Any thread, idempotent: stop refilling, kill and reap what is pooled.
  void stop() noexcept;

 private:
  void run();

  const spawn_options& opts_;
  const std::size_t target_;
  const logger& log_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<spawned_child> ready_;
  bool stopping_ = false;
  bool warm_ = true;                   // off once a server did not answer its warm-up ping
  std::atomic<bool> stop_now_{false};  // stop(), seen by a warm-up in progress
  static constexpr std::chrono::seconds warm_up_limit{10};
  // Refilling waits until no process was taken for refill_quiet, unless at
  // most half the target is left.
  static constexpr std::chrono::milliseconds refill_quiet{20};
  std::chrono::steady_clock::time_point last_take_{};
  std::thread thread_;
};

}  // namespace mcpfwd
