#include "upstream/stdio_upstream.hpp"

#include "base/spawn.hpp"

#include <signal.h>

#include <array>
#include <span>
#include <vector>

namespace mcpfwd {

namespace {

constexpr std::size_t outbox_high_water = 1u << 20;
constexpr std::size_t max_stderr_line = 64 * 1024;

// The read buffer of the current I/O thread. A function, not a thread_local
// used in the coroutine itself: the compiler may keep a thread_local's
// address across a co_await, and the coroutine may resume on another thread.
[[gnu::noinline]] std::span<char> thread_read_buffer() {
  thread_local std::array<char, 64 * 1024> buf;
  return buf;
}

// Waits until `d` is readable, then reads what is there into the thread's
// buffer: an idle session holds no read buffer of its own (that is most of
// what an idle session would otherwise cost). The bytes are valid until the
// next co_await.
struct chunk {
  std::string_view data;
  error_code ec;
};
net::awaitable<chunk> read_ready(net::posix::stream_descriptor& d) {
  for (;;) {
    auto [wec] = co_await d.async_wait(net::posix::descriptor_base::wait_read,
                                       net::as_tuple(net::use_awaitable));
    if (wec) co_return chunk{{}, wec};
    const std::span<char> buf = thread_read_buffer();
    error_code ec;
    const std::size_t n = d.read_some(net::buffer(buf.data(), buf.size()), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) continue;
    if (ec) co_return chunk{{}, ec};
    co_return chunk{std::string_view(buf.data(), n), {}};
  }
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
      stdout_closed_(strand),
      exited_(strand) {}

void stdio_upstream::start(std::shared_ptr<void> owner, sink& out) {
  error_code ignored;  // the readers read only what is there (read_ready)
  child_.out().non_blocking(true, ignored);
  child_.err().non_blocking(true, ignored);
  const auto ex = child_.out().get_executor();
  // A coroutine that fails takes the server down with it: the session then
  // ends as when the server exits, and nothing is left half-working.
  auto failed = [this, owner](const char* what) {
    return log_failure(log_, prefix_ + what, [this, owner] { child_.signal_group(SIGKILL); });
  };
  net::co_spawn(ex, to_server_.run(), failed("the writer to the server's stdin"));
  net::co_spawn(ex, read_stdout(out), failed("the reader of the server's stdout"));
  net::co_spawn(ex, relay_stderr(), failed("the relay of the server's stderr"));
}

net::awaitable<void> stdio_upstream::read_stdout(sink& out) {
  collected_lines got(max_message_bytes_, true);
  auto handle = [&](std::string line) -> net::awaitable<void> {
    if (blank_line(line)) co_return;
    message msg;
    classify_error err;
    if (!classify(line, msg, err)) {
      out.on_server_rejected(&err, line);
      // Whoever waits for it (a client's request, the server's own) gets an
      // error instead of waiting for ever.
      oversize_answer a = answer_unreadable(line, err.message, true);
      if (!a.to_sender.empty()) send_now(std::move(a.to_sender));
      if (!a.to_receiver.empty() && classify(std::move(a.to_receiver), msg, err))
        co_await out.on_server_message(std::move(msg));
      co_return;
    }
    co_await out.on_server_message(std::move(msg));
  };
  // What one feed produced, in order. A line over the limit was dropped, but
  // a request in it is refused to the server and a response in it replaced
  // by an error for the client, so neither side waits for ever.
  auto deliver = [&]() -> net::awaitable<void> {
    for (auto& it : got.items) {
      if (!it.oversize) {
        co_await handle(std::move(it.line));
        continue;
      }
      out.on_server_rejected(nullptr, {});
      if (!it.oversize->to_sender.empty()) send_now(std::move(it.oversize->to_sender));
      if (!it.oversize->to_receiver.empty()) co_await handle(std::move(it.oversize->to_receiver));
    }
  };
  for (;;) {
    auto [data, ec] = co_await read_ready(child_.out());
    if (!data.empty()) {
      got.items.clear();
      stdout_framer_.feed(data, got);  // copies out of the thread's buffer
      co_await deliver();
    }
    if (ec) break;
  }
  got.items.clear();
  stdout_framer_.finish(got);
  co_await deliver();
  if (std::string rest = stdout_framer_.take_partial(); !rest.empty())
    co_await handle(std::move(rest));
  stdout_closed_.notify();
}

net::awaitable<void> stdio_upstream::relay_stderr() {
  collected_lines got(max_stderr_line, true);
  for (;;) {
    auto [data, ec] = co_await read_ready(child_.err());
    if (!data.empty()) {
      got.items.clear();
      stderr_framer_.feed(data, got);
      for (auto& it : got.items) {
        if (it.oversize)
          log_.server_line("[mcpfwd: a stderr line over 64 KiB was cut]", prefix_);
        else
          log_.server_line(it.line, prefix_);
      }
    }
    if (ec) break;
  }
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
