// What a session talks to: one upstream MCP server, reached over stdio (a
// process spawned for the session: stdio_upstream) or over HTTP (a session
// of its own on a remote Streamable HTTP or legacy SSE server:
// http_upstream). Sessions see only this interface.
//
// Everything runs on the session's strand, given at construction; the owner
// keeps the upstream alive (it is a member of the session, and every
// coroutine started here holds the `owner` passed to start() and stop()).
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/net.hpp"
#include "io/child_process.hpp"
#include "protocol/message.hpp"

namespace mcpfwd {

// How an upstream ended, once wait_end() completes.
struct upstream_end {
  int raw_status = -1;      // the wait status when the upstream was a process
  std::string description;  // "upstream server exited with status 3", ...
  std::string status;       // the same without the subject: "exited with status 3"
  // The exit code a single-session proxy reports when the upstream ended
  // first (the server's exit status, or 1 for a remote failure).
  int exit_code = 0;

  // How a server process ended.
  static upstream_end of_process(const exit_status& st) {
    upstream_end e;
    e.raw_status = st.raw;
    e.status = st.describe();
    e.description = "upstream server " + e.status;
    e.exit_code = st.as_proxy_exit_code();
    return e;
  }
};

class upstream {
 public:
  // What the owner does with the server's output. Called on the strand.
  struct sink {
    virtual ~sink() = default;
    // A valid JSON-RPC message (or batch). May wait: that is backpressure.
    virtual net::awaitable<void> on_server_message(message msg) = 0;
    // True when on_server_message never waits: a stdio upstream then hands
    // messages to on_server_message_now from a plain completion handler, so
    // an idle session holds no coroutine frame for its server's stdout.
    virtual bool delivers_now() const noexcept { return false; }
    // on_server_message without waiting; only called when delivers_now().
    virtual void on_server_message_now(message) {
      throw std::logic_error("on_server_message_now on a sink that may wait");
    }
    // Around the on_server_message_now calls of one read: the owner may hold
    // back resuming what they answered until deliveries_end, and resume it
    // there, in the reader's call when `now` (its replies then go out before
    // the reader waits again); `now` is false when an exception unwinds.
    virtual void deliveries_begin() {}
    virtual void deliveries_end(bool now) { (void)now; }
    // A message that is not JSON-RPC (err set) or is over the size limit
    // (err null, line empty). It is dropped; the owner counts and logs it.
    virtual void on_server_rejected(const classify_error* err, std::string_view line) = 0;
  };

  virtual ~upstream() = default;

  // Starts the I/O. `owner` keeps whoever holds this object (and `out`) alive.
  virtual void start(std::shared_ptr<void> owner, sink& out) = 0;
  // Forwards one client message (msg.raw without a line terminator). Waits
  // while the upstream is not keeping up. A request that cannot be delivered
  // is answered through the sink with a JSON-RPC error.
  virtual net::awaitable<void> send(message msg) = 0;
  // Forwards a message of mcpfwd's own (a cancellation) without waiting.
  virtual void send_now(std::string raw) = 0;
  // Graceful end: a process gets EOF, then SIGTERM and SIGKILL after `grace`
  // each; a remote session is ended with DELETE. Idempotent.
  virtual void stop(std::chrono::milliseconds grace, std::shared_ptr<void> owner) = 0;
  // Completes once the upstream has ended (by itself or after stop()) and
  // what it sent before has been handed to the sink, waiting at most `drain`
  // for the rest of its output. Call once.
  virtual net::awaitable<upstream_end> wait_end(std::chrono::steady_clock::duration drain) = 0;
  // After wait_end: release descriptors and connections.
  virtual void close() noexcept = 0;
  // The "upstream" member of a session snapshot. Any thread.
  virtual json::object describe() const = 0;
  // The downstream client's Authorization header, forwarded when configured.
  virtual void set_client_authorization(std::string_view) {}
};

// Makes the upstream of a new session (throws api_error when it cannot
// start, e.g. the spawn fails). `log_prefix` is "" or "session <id>: ".
using upstream_factory = std::function<std::unique_ptr<upstream>(const session_strand& strand,
                                                                 const std::string& log_prefix)>;

}  // namespace mcpfwd
