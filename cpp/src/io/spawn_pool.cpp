#include "io/spawn_pool.hpp"

#include <signal.h>

#include <chrono>
#include <exception>
#include <string>

namespace mcpfwd {

spawn_pool::spawn_pool(const spawn_options& opts, std::size_t target, const logger& log)
    : opts_(opts), target_(target), log_(log) {
  thread_ = std::thread([this] { run(); });
}

spawn_pool::~spawn_pool() {
  stop();
}

void spawn_pool::run() {
  // Signals are the I/O threads' business (and the children's mask is set
  // by posix_spawn anyway).
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock lk(m_);
  for (;;) {
    cv_.wait(lk, [this] { return stopping_ || ready_.size() < target_; });
    if (stopping_) break;
    // Refill in the gaps between takes: a burst of new sessions is served
    // from the pool without a spawn competing with it for the cores, unless
    // the pool runs low.
    if (ready_.size() > target_ / 2) {
      const auto until = last_take_ + refill_quiet;
      const bool go = cv_.wait_until(lk, until, [this] {
        return stopping_ || ready_.size() <= target_ / 2 ||
               std::chrono::steady_clock::now() >= last_take_ + refill_quiet;
      });
      if (!go) continue;  // a take meanwhile moved last_take_ on: wait again
      if (stopping_) break;
    }
    lk.unlock();
    std::optional<spawned_child> c;
    std::string failure;
    try {
      c.emplace(spawn_child(opts_));
    } catch (const std::exception& e) {
      failure = e.what();
    }
    lk.lock();
    if (c) {
      ready_.push_back(std::move(*c));  // if stopping_, the loop ends and stop() reaps it
      continue;
    }
    lk.unlock();
    log_.warn(std::string("prespawn: ") + failure + "; retrying in 1 s");
    lk.lock();
    cv_.wait_for(lk, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

std::optional<spawned_child> spawn_pool::take() {
  std::deque<spawned_child> dead;  // reaped outside the lock
  std::optional<spawned_child> got;
  {
    std::lock_guard lk(m_);
    last_take_ = std::chrono::steady_clock::now();
    while (!ready_.empty()) {
      spawned_child c = std::move(ready_.front());
      ready_.pop_front();
      if (c.exited()) {
        dead.push_back(std::move(c));
        continue;
      }
      got.emplace(std::move(c));
      break;
    }
  }
  cv_.notify_one();
  if (!dead.empty())
    log_.warn("prespawn: " + std::to_string(dead.size()) +
              " pooled server process(es) had exited before use; replaced");
  return got;
}

std::size_t spawn_pool::ready() const {
  std::lock_guard lk(m_);
  return ready_.size();
}

void spawn_pool::stop() noexcept {
  std::deque<spawned_child> left;
  {
    std::lock_guard lk(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  {
    std::lock_guard lk(m_);
    left.swap(ready_);
  }
  // ~spawned_child: SIGKILL to each group, then reap.
}

}  // namespace mcpfwd
