// One upstream MCP server reached over stdio, as both session kinds use it:
// the spawned process, an ordered writer to its stdin, a reader that frames
// and classifies its stdout, a relay of its stderr to the log, and the
// shutdown sequence (close stdin, SIGTERM, SIGKILL).
//
// Everything runs on the strand given at construction; the owner keeps the
// upstream alive (it is a member of the session, and every coroutine
// started here holds the session's shared_ptr passed to start()).
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "child_process.hpp"
#include "event.hpp"
#include "line_framer.hpp"
#include "logger.hpp"
#include "message.hpp"
#include "net.hpp"
#include "pipe_writer.hpp"

namespace mcpfwd {

class stdio_upstream {
 public:
  // What the owner does with the server's output. Called on the strand.
  struct sink {
    virtual ~sink() = default;
    // A valid JSON-RPC message (or batch). May wait: that is backpressure.
    virtual net::awaitable<void> on_server_message(message msg) = 0;
    // A line that is not JSON-RPC (err set) or is over the size limit
    // (err null, line empty). It is dropped; the owner counts and logs it.
    virtual void on_server_rejected(const classify_error* err, std::string_view line) = 0;
  };

  // Spawns the server; throws api_error on failure.
  stdio_upstream(const net::strand<net::any_io_executor>& strand, const spawn_options& spawn,
                 std::size_t max_message_bytes, const logger& log, std::string log_prefix);

  pid_t pid() const noexcept { return pid_; }
  pipe_writer<net::posix::stream_descriptor>& input() noexcept { return to_server_; }

  // Starts the stdin writer, the stdout reader and the stderr relay.
  // `owner` keeps whoever holds this object (and `out`) alive meanwhile.
  void start(std::shared_ptr<void> owner, sink& out);

  // Graceful stop: stdin closed once drained; SIGTERM to the process group
  // after `grace`, SIGKILL after another `grace`. Idempotent.
  void stop(std::chrono::milliseconds grace, std::shared_ptr<void> owner);

  // Completes once the server has exited and been reaped, and what it wrote
  // before exiting has been handed to the sink (waiting at most `drain` for
  // its stdout to close: a grandchild may hold it open). Call once.
  net::awaitable<exit_status> wait_exit(std::chrono::steady_clock::duration drain);

  // After wait_exit: cancel the readers and close stdin.
  void close_pipes() noexcept;

 private:
  net::awaitable<void> read_stdout(sink& out);
  net::awaitable<void> relay_stderr();
  net::awaitable<void> escalate(std::chrono::milliseconds grace);

  const logger& log_;
  std::string prefix_;  // "" or "session <id>: "
  child_process child_;
  pid_t pid_;
  pipe_writer<net::posix::stream_descriptor> to_server_;
  line_framer stdout_framer_, stderr_framer_;
  event stdout_closed_, exited_;
  bool stopping_ = false;
};

}  // namespace mcpfwd
