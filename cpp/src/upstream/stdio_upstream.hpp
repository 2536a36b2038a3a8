// One upstream MCP server reached over stdio: the spawned process, an
// ordered writer to its stdin, a reader that frames and classifies its
// stdout, a relay of its stderr to the log, and the shutdown sequence
// (close stdin, SIGTERM, SIGKILL). See upstream.hpp for the contract.
#pragma once
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/logger.hpp"
#include "base/net.hpp"
#include "io/child_process.hpp"
#include "io/one_shot.hpp"
#include "io/pipe_writer.hpp"
#include "protocol/line_framer.hpp"
#include "protocol/message.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

class stdio_upstream final : public upstream {
 public:
  // Spawns the server; throws api_error on failure.
  // With `pre` (a process spawn_pool started): adopts it instead of spawning.
  stdio_upstream(const session_strand& strand, const spawn_options& spawn,
                 std::size_t max_message_bytes, const logger& log, std::string log_prefix,
                 std::optional<spawned_child> pre = std::nullopt);

  pid_t pid() const noexcept { return pid_; }
  pipe_writer<net::posix::stream_descriptor>& input() noexcept { return to_server_; }

  // Starts the stdin writer, the stdout reader and the stderr relay: plain
  // completion handlers (no coroutine while idle; one per read of stdout
  // only for a sink that may wait, see sink::delivers_now).
  void start(std::shared_ptr<void> owner, sink& out) override;
  net::awaitable<void> send(message msg) override;
  void send_now(std::string raw) override;
  // Graceful stop: stdin closed once drained; SIGTERM to the process group
  // after `grace`, SIGKILL after another `grace`. Idempotent.
  void stop(std::chrono::milliseconds grace, std::shared_ptr<void> owner) override;
  // Completes once the server has exited and been reaped, and what it wrote
  // before exiting has been handed to the sink (waiting at most `drain` for
  // its stdout to close: a grandchild may hold it open).
  net::awaitable<upstream_end> wait_end(std::chrono::steady_clock::duration drain) override;
  // After wait_end: cancel the readers and close stdin.
  void close() noexcept override;
  json::object describe() const override;

 private:
  void failed(const char* what, std::exception_ptr e);
  net::awaitable<void> deliver_stdout(bool end);
  void wait_stdout(const std::shared_ptr<void>& owner);
  void on_stdout(error_code ec, const std::shared_ptr<void>& owner);
  bool prepare_line(std::string line, message& msg);
  bool prepare_item(collected_lines::item& it, message& msg);
  void wait_stderr(const std::shared_ptr<void>& owner);
  void on_stderr(error_code ec, const std::shared_ptr<void>& owner);
  net::awaitable<void> escalate(std::chrono::milliseconds grace);

  const logger& log_;
  std::string prefix_;  // "" or "session <id>: "
  child_process child_;
  pid_t pid_;
  pipe_writer<net::posix::stream_descriptor> to_server_;
  std::size_t max_message_bytes_;
  line_framer stdout_framer_, stderr_framer_;
  collected_lines stdout_got_, stderr_got_;  // what the last read of each framed
  sink* out_ = nullptr;
  one_shot stdout_closed_, exited_;
  bool stopping_ = false;
};

}  // namespace mcpfwd
