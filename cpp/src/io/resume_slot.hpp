// The pending wait of one coroutine, completed by whoever holds the slot:
// posted like any completion, or run at once in the caller when the caller
// is already on the coroutine's strand (a dispatch). A steady_timer's
// cancel() can only post, which costs the waiting coroutine a trip through
// the scheduler (a reactor poll, a system call) before it can run; a session
// uses this slot to resume a request's coroutine right where the server's
// answer was read, so the reply goes out before anything else
// (http_session::deliveries_end).
//
// The handler lives in a block of Asio's recycling allocator (no malloc once
// warm). A slot destroyed while armed destroys the handler without running
// it, as Asio does with the operations of a destroyed I/O object.
#pragma once
#include <memory>
#include <new>
#include <utility>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>

#include "base/net.hpp"

namespace mcpfwd {

class resume_slot {
 public:
  // Waits until fire(): completes with its error code.
  template <class Token>
  auto wait(Token&& token) {
    return net::async_initiate<Token, void(error_code)>(
        [this](auto handler) { arm(std::move(handler)); }, token);
  }
  bool armed() const noexcept { return static_cast<bool>(h_); }
  // Completes the wait with `ec` (nothing when none is pending). `now`: run it
  // in this call when the caller is on the handler's executor (dispatch);
  // otherwise it is posted.
  void fire(error_code ec, bool now) {
    if (auto h = std::move(h_)) h.release()->fire(ec, now);
  }

 private:
  struct base {
    virtual void fire(error_code ec, bool now) = 0;  // and frees this
    virtual void destroy() noexcept = 0;             // frees this, the handler unrun

   protected:
    ~base() = default;
  };
  template <class Handler>
  struct impl final : base {
    explicit impl(Handler&& h) : handler(std::move(h)) {}
    Handler handler;
    void fire(error_code ec, bool now) override {
      Handler h = std::move(handler);
      destroy();
      const auto ex = net::get_associated_executor(h);
      if (now)
        net::dispatch(ex, net::append(std::move(h), ec));
      else
        net::post(ex, net::append(std::move(h), ec));
    }
    void destroy() noexcept override {
      net::recycling_allocator<impl> a;
      this->~impl();
      a.deallocate(this, 1);
    }
  };
  struct deleter {
    void operator()(base* p) const noexcept { p->destroy(); }
  };

  template <class Handler>
  void arm(Handler h) {
    using I = impl<Handler>;
    net::recycling_allocator<I> a;
    I* p = a.allocate(1);
    try {
      ::new (static_cast<void*>(p)) I(std::move(h));
    } catch (...) {
      a.deallocate(p, 1);
      throw;
    }
    h_.reset(p);
  }

  std::unique_ptr<base, deleter> h_;
};

}  // namespace mcpfwd
