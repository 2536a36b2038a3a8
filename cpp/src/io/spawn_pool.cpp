#include "io/spawn_pool.hpp"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include "protocol/message.hpp"

namespace mcpfwd {

namespace {

constexpr std::string_view warm_up_id = "mcpfwd-warm-up";
constexpr std::size_t max_warm_up_line = 64 * 1024;  // a line before the answer, or the answer
constexpr int warm_up_poll_slice_ms = 100;           // how soon stop() is seen

enum class warm_up_result { answered, no_answer, ended, stopped };

// Sends `c` a ping and reads up to the end of its answer, a byte at a time
// (whatever the server writes after it stays in the pipe, for the session).
// Lines before the answer (a log notification) are dropped: no session is
// there to take them yet.
warm_up_result warm_up(const spawned_child& c, std::chrono::milliseconds limit,
                       const std::atomic<bool>& stop, std::string& why) {
  const std::string ping =
      R"({"jsonrpc":"2.0","id":")" + std::string(warm_up_id) + R"(","method":"ping"})" + "\n";
  for (std::size_t done = 0; done < ping.size();) {
    const ssize_t n = ::write(c.in, ping.data() + done, ping.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      why = "its stdin is closed";
      return warm_up_result::ended;
    }
    done += static_cast<std::size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string line;
  for (;;) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      why = "no answer to a ping within " + std::to_string(limit.count()) + " ms";
      return warm_up_result::no_answer;
    }
    if (stop.load(std::memory_order_relaxed)) {
      why = "the proxy is stopping";
      return warm_up_result::stopped;
    }
    pollfd p{c.out, POLLIN, 0};
    const int r =
        ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), warm_up_poll_slice_ms)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;  // the deadline and stop(), checked above
    char ch = 0;
    const ssize_t n = r < 0 ? -1 : ::read(c.out, &ch, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      why = "it closed its stdout (or exited) after a ping";
      return warm_up_result::ended;
    }
    if (ch != '\n') {
      if (line.size() >= max_warm_up_line) {
        why = "a line of its output is over " + std::to_string(max_warm_up_line) + " bytes";
        return warm_up_result::no_answer;
      }
      line += ch;
      continue;
    }
    message m;
    classify_error err;
    if (classify(std::move(line), m, err) &&
        (m.info.kind == message_kind::response || m.info.kind == message_kind::error) &&
        m.info.id == R"(")" + std::string(warm_up_id) + R"(")")
      return warm_up_result::answered;
    line.clear();
  }
}

}  // namespace

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
    if (c && warm_) {
      std::string why;
      const warm_up_result w = warm_up(*c, warm_up_limit, stop_now_, why);
      if (w == warm_up_result::stopped) {
        c.reset();
        lk.lock();
        break;
      }
      if (w != warm_up_result::answered) {
        warm_ = false;  // only this thread reads or writes it
        log_.warn("prespawn: the server did not answer a ping before initialize (" + why +
                  "); pooled servers are handed out without warming from now on");
        c.reset();  // kills and reaps it (its answer could still come); a new one is started
        lk.lock();
        continue;
      }
    }
    if (c && log_.enabled(log_level::debug))
      log_.debug("prespawn: server pid " + std::to_string(c->pid) + " pooled" +
                 (warm_ ? " (it answered a ping)" : ""));
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
  stop_now_.store(true, std::memory_order_relaxed);
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
