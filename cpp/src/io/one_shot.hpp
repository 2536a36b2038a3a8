// A one-shot event for coroutines on one strand: notify() once, wait with a
// deadline. (A bare timer cancel is lost when nobody waits yet; the flag is not.)
#pragma once
#include <chrono>

#include "base/net.hpp"

namespace mcpfwd {

class one_shot {
 public:
  explicit one_shot(const net::any_io_executor& ex) : t_(ex) {}
  void notify() {
    set_ = true;
    t_.cancel();
  }
  bool is_set() const noexcept { return set_; }
  // True if notified before the deadline.
  net::awaitable<bool> wait_for(std::chrono::steady_clock::duration d) {
    if (set_) co_return true;
    t_.expires_after(d);
    co_await t_.async_wait(net::as_tuple(net::use_awaitable));
    co_return set_;
  }

 private:
  net::steady_timer t_;
  bool set_ = false;
};

}  // namespace mcpfwd
