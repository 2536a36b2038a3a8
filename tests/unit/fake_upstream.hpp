// An upstream that lives in memory, for driving sessions without processes
// or sockets. The session owns the fake (through its upstream_factory); the
// test holds its control, which injects server messages, sees what the
// session sent, ends the upstream with a chosen status, or makes it hang
// (stop() is then ignored and wait_end() never completes).
//
// Everything happens on the session's strand: the test calls the control
// only while the io_context is not running (the tests run it on their own
// thread, between calls).
#pragma once
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "upstream/upstream.hpp"

namespace mcpfwd::test {

class fake_upstream_control {
 public:
  // What the session did to the upstream.
  std::vector<std::string> sent;      // send(): each message's raw bytes, in order
  std::vector<std::string> sent_now;  // send_now(): mcpfwd's own messages
  std::string client_authorization;   // the last set_client_authorization()
  int starts = 0, stops = 0, closes = 0;
  std::chrono::milliseconds stop_grace{-1};

  // How it behaves.
  bool hang = false;  // stop() does not end it; it ends only by end()
  upstream_end on_stop = exited(0);
  json::object description{{"kind", "fake"}};

  // An end as a server process reports it ("exited with status 3", ...).
  static upstream_end exited(int status) { return upstream_end::of_process({status << 8}); }

  // The server sends one message (valid JSON-RPC: classified here).
  void server_says(std::string raw) {
    item it;
    classify_error err;
    INFO(raw);
    REQUIRE(classify(std::move(raw), it.msg, err));
    push(std::move(it));
  }
  // The server sends a line that is not JSON-RPC, or one over the size
  // limit: the session hears of it through on_server_rejected.
  void server_garbles(std::string line) { push({{std::move(line), {}, {}}, item::garbled}); }
  void server_oversize() { push({{}, item::oversize}); }
  // The upstream ends by itself (the server exits, the remote session is
  // gone), after what was injected before has been delivered.
  void end(upstream_end e) {
    if (end_) return;
    end_ = std::move(e);
    wake();
  }
  bool ended() const noexcept { return end_.has_value(); }
  bool started() const noexcept { return starts > 0; }

 private:
  friend class fake_upstream;

  struct item {
    message msg;
    enum { valid, garbled, oversize } kind = valid;
  };
  void push(item it) {
    inbox_.push_back(std::move(it));
    wake();
  }
  // Wakes every coroutine waiting on the timer (its expiry stays "never").
  void wake() {
    if (timer_) timer_->cancel();
  }

  std::optional<net::steady_timer> timer_;  // the pump and wait_end sleep on it
  std::deque<item> inbox_;
  std::optional<upstream_end> end_;
  bool drained_ = false;  // ended, and everything before the end delivered
};

class fake_upstream final : public upstream {
 public:
  fake_upstream(const session_strand& strand, std::shared_ptr<fake_upstream_control> ctl)
      : ctl_(std::move(ctl)) {
    ctl_->timer_.emplace(strand, net::steady_timer::time_point::max());
  }
  // The timer goes with the session (and its io_context); the control may
  // outlive both.
  ~fake_upstream() override { ctl_->timer_.reset(); }

  void start(std::shared_ptr<void> owner, sink& out) override {
    ++ctl_->starts;
    net::co_spawn(ctl_->timer_->get_executor(), pump(ctl_, std::move(owner), out), net::detached);
  }
  net::awaitable<void> send(message msg) override {
    ctl_->sent.push_back(std::move(msg.raw));
    co_return;
  }
  void send_now(std::string raw) override { ctl_->sent_now.push_back(std::move(raw)); }
  void stop(std::chrono::milliseconds grace, std::shared_ptr<void>) override {
    ++ctl_->stops;
    ctl_->stop_grace = grace;
    if (!ctl_->hang) ctl_->end(ctl_->on_stop);
  }
  net::awaitable<upstream_end> wait_end(std::chrono::steady_clock::duration) override {
    auto ctl = ctl_;
    while (!ctl->drained_) co_await sleep(*ctl);
    co_return *ctl->end_;
  }
  void close() noexcept override { ++ctl_->closes; }
  json::object describe() const override { return ctl_->description; }
  void set_client_authorization(std::string_view v) override {
    ctl_->client_authorization = std::string(v);
  }

  // An upstream_factory making fakes driven by `ctl` (one session each).
  static upstream_factory factory(std::shared_ptr<fake_upstream_control> ctl) {
    return [ctl](const session_strand& strand, const std::string&) -> std::unique_ptr<upstream> {
      return std::make_unique<fake_upstream>(strand, ctl);
    };
  }

 private:
  static net::awaitable<void> sleep(fake_upstream_control& ctl) {
    co_await ctl.timer_->async_wait(net::as_tuple(net::use_awaitable));
  }

  // Hands the injected messages to the sink, one at a time (a sink may wait:
  // backpressure), as a real upstream's reader does.
  static net::awaitable<void> pump(std::shared_ptr<fake_upstream_control> ctl,
                                   std::shared_ptr<void> owner, sink& out) {
    for (;;) {
      while (!ctl->inbox_.empty()) {
        fake_upstream_control::item it = std::move(ctl->inbox_.front());
        ctl->inbox_.pop_front();
        if (it.kind == fake_upstream_control::item::valid) {
          co_await out.on_server_message(std::move(it.msg));
        } else if (it.kind == fake_upstream_control::item::garbled) {
          const classify_error err{rpc_error::parse_error, {}, "Parse error"};
          out.on_server_rejected(&err, it.msg.raw);
        } else {
          out.on_server_rejected(nullptr, {});
        }
      }
      if (ctl->end_) break;
      co_await sleep(*ctl);
    }
    ctl->drained_ = true;
    ctl->wake();
    owner.reset();  // held until here, as a real upstream's readers hold it
  }

  std::shared_ptr<fake_upstream_control> ctl_;
};

}  // namespace mcpfwd::test
