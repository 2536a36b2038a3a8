#include "upstream/stdio_upstream.hpp"

#include "base/spawn.hpp"

#include <signal.h>

#include <array>
#include <exception>
#include <span>
#include <vector>

namespace mcpfwd {

namespace {

constexpr std::size_t outbox_high_water = 1u << 20;
constexpr std::size_t max_stderr_line = 64 * 1024;

// The read buffer of the current I/O thread: an idle session holds no read
// buffer of its own (that is most of what an idle session would otherwise
// cost). The readers are completion handlers that frame what they read
// before returning, so the bytes never outlive the handler.
[[gnu::noinline]] std::span<char> thread_read_buffer() {
  thread_local std::array<char, 64 * 1024> buf;
  return buf;
}

// Reads what `d` has (it was reported readable, or ec is already set) into
// the thread's buffer. False when there was nothing after all (wait again);
// otherwise `data` holds the bytes, or `ec` the error (eof included).
bool read_now(net::posix::stream_descriptor& d, std::string_view& data, error_code& ec) {
  if (ec) return true;
  const std::span<char> buf = thread_read_buffer();
  const std::size_t n = d.read_some(net::buffer(buf.data(), buf.size()), ec);
  if (ec == net::error::would_block || ec == net::error::try_again) {
    ec = {};
    return false;
  }
  data = std::string_view(buf.data(), ec ? 0 : n);
  return true;
}

}  // namespace

stdio_upstream::stdio_upstream(const session_strand& strand, const spawn_options& spawn,
                               std::size_t max_message_bytes, const logger& log,
                               std::string log_prefix, std::optional<spawned_child> pre)
    : log_(log),
      prefix_(std::move(log_prefix)),
      child_(pre ? child_process(strand, spawn, std::move(*pre)) : child_process(strand, spawn)),
      pid_(child_.pid()),
      to_server_(child_.in(), outbox_high_water),
      max_message_bytes_(max_message_bytes),
      stdout_framer_(max_message_bytes),
      stderr_framer_(max_stderr_line),
      stdout_got_(max_message_bytes, true),
      stderr_got_(max_stderr_line, true),
      stdout_closed_(strand),
      exited_(strand) {}

// The server's pipes are served by plain completion handlers, not
// coroutines: an idle session holds a pending wait on stdout and one on
// stderr and nothing for stdin, instead of three suspended coroutine frames.
// What a read of stdout framed goes to the sink from the handler itself when
// the sink never waits (sink::delivers_now: an HTTP session, directly or
// behind a bridge in passthrough), else from a coroutine started for that
// read (the sink may wait: backpressure). Every handler holds `owner`; an
// exception in one is logged and takes the server down with it (SIGKILL to
// its group): the session then ends as when the server exits, and nothing
// is left half-working.
void stdio_upstream::start(std::shared_ptr<void> owner, sink& out) {
  error_code ignored;  // the readers read only what is there (read_now)
  child_.out().non_blocking(true, ignored);
  child_.err().non_blocking(true, ignored);
  child_.in().non_blocking(true, ignored);  // the writer writes what fits now (pipe_writer)
  out_ = &out;
  to_server_.start(owner,
                   [this](std::exception_ptr e) { failed("the writer to the server's stdin", e); });
  wait_stderr(owner);
  wait_stdout(owner);
}

void stdio_upstream::failed(const char* what, std::exception_ptr e) {
  log_failure(log_, prefix_ + what, [this] { child_.signal_group(SIGKILL); })(std::move(e));
}

void stdio_upstream::wait_stdout(const std::shared_ptr<void>& owner) {
  child_.out().async_wait(net::posix::descriptor_base::wait_read, [this, owner](error_code ec) {
    try {
      on_stdout(ec, owner);
    } catch (...) {
      failed("the reader of the server's stdout", std::current_exception());
    }
  });
}

void stdio_upstream::on_stdout(error_code ec, const std::shared_ptr<void>& owner) {
  std::string_view data;
  if (!read_now(child_.out(), data, ec)) return wait_stdout(owner);
  stdout_got_.items.clear();
  if (!data.empty()) stdout_framer_.feed(data, stdout_got_);  // copies out of the thread's buffer
  const bool end = static_cast<bool>(ec);
  if (end) stdout_framer_.finish(stdout_got_);
  if (stdout_got_.items.empty() && !end) return wait_stdout(owner);
  if (!out_->delivers_now()) {
    net::co_spawn(child_.out().get_executor(), deliver_stdout(end),
                  [this, owner, end](std::exception_ptr e) {
                    try {
                      if (e) std::rethrow_exception(e);
                      if (!end) wait_stdout(owner);
                    } catch (...) {
                      failed("the reader of the server's stdout", std::current_exception());
                    }
                  });
    return;
  }
  {
    // The requests these messages answer resume when the scope ends, here:
    // their replies go out before the reader waits again.
    struct deliveries {
      sink& s;
      explicit deliveries(sink& k) : s(k) { s.deliveries_begin(); }
      ~deliveries() { s.deliveries_end(std::uncaught_exceptions() == 0); }
      deliveries(const deliveries&) = delete;
      deliveries& operator=(const deliveries&) = delete;
    } scope(*out_);
    for (auto& it : stdout_got_.items) {
      message msg;
      if (prepare_item(it, msg)) out_->on_server_message_now(std::move(msg));
    }
    stdout_got_.items.clear();
    message msg;
    if (end && prepare_line(stdout_framer_.take_partial(), msg))
      out_->on_server_message_now(std::move(msg));
  }
  if (!end) return wait_stdout(owner);
  stdout_closed_.notify();
}

// A line of the server's stdout as a message for the sink (false: nothing to
// hand it). A line that is not JSON-RPC is reported and dropped, and whoever
// waits for it (a client's request, the server's own) gets an error instead
// of waiting for ever.
bool stdio_upstream::prepare_line(std::string line, message& msg) {
  if (blank_line(line)) return false;
  classify_error err;
  if (classify_taking(line, msg, err)) return true;  // else `line` is still here
  out_->on_server_rejected(&err, line);
  oversize_answer a = answer_unreadable(line, err.message, true);
  if (!a.to_sender.empty()) send_now(std::move(a.to_sender));
  return !a.to_receiver.empty() && classify(std::move(a.to_receiver), msg, err);
}

// One framed item. A line over the limit was dropped, but a request in it is
// refused to the server and a response in it replaced by an error for the
// client, so neither side waits for ever.
bool stdio_upstream::prepare_item(collected_lines::item& it, message& msg) {
  if (!it.oversize) return prepare_line(std::move(it.line), msg);
  out_->on_server_rejected(nullptr, {});
  if (!it.oversize->to_sender.empty()) send_now(std::move(it.oversize->to_sender));
  if (it.oversize->to_receiver.empty()) return false;
  return prepare_line(std::move(it.oversize->to_receiver), msg);
}

net::awaitable<void> stdio_upstream::deliver_stdout(bool end) {
  // What one read produced, in order.
  for (auto& it : stdout_got_.items) {
    message msg;
    if (prepare_item(it, msg)) co_await out_->on_server_message(std::move(msg));
  }
  stdout_got_.items.clear();
  if (!end) co_return;
  message msg;
  if (prepare_line(stdout_framer_.take_partial(), msg))
    co_await out_->on_server_message(std::move(msg));
  stdout_closed_.notify();
}

void stdio_upstream::wait_stderr(const std::shared_ptr<void>& owner) {
  child_.err().async_wait(net::posix::descriptor_base::wait_read, [this, owner](error_code ec) {
    try {
      on_stderr(ec, owner);
    } catch (...) {
      failed("the relay of the server's stderr", std::current_exception());
    }
  });
}

void stdio_upstream::on_stderr(error_code ec, const std::shared_ptr<void>& owner) {
  std::string_view data;
  if (!read_now(child_.err(), data, ec)) return wait_stderr(owner);
  if (!data.empty()) {
    stderr_got_.items.clear();
    stderr_framer_.feed(data, stderr_got_);  // an oversize line's state spans reads
    for (auto& it : stderr_got_.items) {
      if (it.oversize)
        log_.server_line("[mcpfwd: a stderr line over 64 KiB was cut]", prefix_);
      else
        log_.server_line(it.line, prefix_);
    }
  }
  if (!ec) return wait_stderr(owner);
  if (std::string rest = stderr_framer_.take_partial(); !rest.empty())
    log_.server_line(rest, prefix_);
}

void stdio_upstream::stop(std::chrono::milliseconds grace, std::shared_ptr<void> owner) {
  if (stopping_) return;
  stopping_ = true;
  to_server_.close_when_drained();  // the server sees EOF on its stdin
  net::co_spawn(child_.out().get_executor(), escalate(grace),
                log_failure(log_, prefix_ + "the shutdown of the server",
                            [this, owner] { child_.signal_group(SIGKILL); }));
}

net::awaitable<void> stdio_upstream::escalate(std::chrono::milliseconds grace_ms) {
  // (GCC 12 miscompiles co_await inside an if-condition with a converted
  // argument: keep awaits in plain statements.)
  const std::chrono::steady_clock::duration grace = grace_ms;
  bool exited = co_await exited_.wait_for(grace);
  if (exited) co_return;
  log_.info(prefix_ + "upstream server still running " + std::to_string(grace_ms.count()) +
            " ms after its stdin closed: sending SIGTERM");
  child_.signal_group(SIGTERM);
  exited = co_await exited_.wait_for(grace);
  if (exited) co_return;
  log_.warn(prefix_ + "upstream server ignored SIGTERM: sending SIGKILL");
  child_.signal_group(SIGKILL);
}

net::awaitable<upstream_end> stdio_upstream::wait_end(std::chrono::steady_clock::duration drain) {
  exit_status st = co_await child_.async_wait();
  exited_.notify();
  const bool drained = co_await stdout_closed_.wait_for(drain);
  if (!drained)
    log_.warn(prefix_ + "upstream stdout still open after the server exited; not waiting for it");
  co_return upstream_end::of_process(st);
}

net::awaitable<void> stdio_upstream::send(message msg) {
  msg.raw += '\n';
  co_await to_server_.push_wait(std::move(msg.raw));
}

void stdio_upstream::send_now(std::string raw) {
  raw += '\n';
  to_server_.push(std::move(raw));
}

json::object stdio_upstream::describe() const {
  return json::object{{"kind", "stdio"}, {"pid", pid_}};
}

void stdio_upstream::close() noexcept {
  error_code ignored;
  child_.out().cancel(ignored);
  child_.err().cancel(ignored);
  // A grandchild holding the server's stdin open must not keep a write pending.
  child_.in().close(ignored);
}

}  // namespace mcpfwd
