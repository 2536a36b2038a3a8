// The single-session stdio proxy: one MCP client on a pair of descriptors
// (the host that launched us) and one spawned upstream server, forwarding
// newline-delimited JSON-RPC both ways as raw bytes.
//
// Everything below runs on one strand; only stop() and stats() may be called
// from other threads.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/hooks.hpp"
#include "base/logger.hpp"
#include "base/metrics.hpp"
#include "base/net.hpp"
#include "config/config.hpp"
#include "io/one_shot.hpp"
#include "io/pipe_writer.hpp"
#include "protocol/line_framer.hpp"
#include "protocol/message.hpp"
#include "session/session_record.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

class stdio_session : public std::enable_shared_from_this<stdio_session>, private upstream::sink {
 public:
  // Called once, on the strand, when the session has ended and the server
  // has been reaped, with the exit code the proxy should report.
  using done_fn = std::function<void(int exit_code, const std::string& reason)>;

  // Makes the upstream (throws api_error on failure). in_fd/out_fd are owned
  // by the session from here on (already dup()ed by the caller). `cfg`,
  // `log` and `metrics` outlive the session.
  stdio_session(io_executor ex, const upstream_factory& make_upstream, int in_fd, int out_fd,
                const proxy_config& cfg, const logger& log, proxy_metrics& metrics, done_fn done);
  ~stdio_session() override;

  void start();
  void stop();  // any thread; idempotent: graceful shutdown

  session_state current_state() const noexcept { return rec_.state(); }
  const session_counters& counters() const noexcept { return rec_.counters(); }
  std::string stats_json() const { return rec_.snapshot_json(upstream_->describe()); }

 private:
  net::awaitable<void> read_client();
  net::awaitable<void> supervise();
  // upstream::sink
  net::awaitable<void> on_server_message(message msg) override;
  void on_server_rejected(const classify_error* err, std::string_view line) override;
  net::awaitable<void> handle_client_line(std::string line);
  // One client message (a batch's element, or a message of its own); false
  // when it was answered here instead of being forwarded.
  struct batch_group;
  bool admit(const message_info& mi, const std::shared_ptr<batch_group>& group);
  // A response the client gets in a batch reply: held until the batch is whole.
  bool gather(const message_info& mi, std::string& raw);
  void emit_batch(batch_group& group);
  void begin_shutdown(const char* why);
  void fail_in_flight(const std::string& reason);
  void reply_error(const std::string& id, int code, const std::string& text);

  session_strand strand_;
  const proxy_config& cfg_;
  session_record rec_;
  session_counters& n_;  // rec_'s counters
  const logger& log_;
  proxy_metrics& metrics_;
  done_fn done_;
  // Declared before upstream_: they own the client descriptors even if the
  // spawn throws.
  net::posix::stream_descriptor client_in_, client_out_;
  std::unique_ptr<upstream> upstream_;
  pipe_writer<net::posix::stream_descriptor> to_client_;
  line_framer client_framer_;
  one_shot client_flushed_;  // the writer to the client has finished
  bool shutting_down_ = false;
  std::string end_reason_;  // why the session ended
  std::atomic<bool> stop_requested_{false};
  struct pending {
    std::size_t method;  // metric_methods() index
    std::chrono::steady_clock::time_point start;
  };
  std::unordered_map<std::string, pending> in_flight_;  // by id json
  // Requests of a client batch, by id: their answers go back as one batch.
  std::unordered_map<std::string, std::shared_ptr<batch_group>> batched_;
};

}  // namespace mcpfwd
