// Log sink of one proxy: a level filter in front of either a user callback
// or standard error (never standard output, which may carry the protocol).
//
// Standard error takes text lines ("mcpfwd: info: ...", "server: ...") or,
// with --log-format json, one JSON object per line:
//   {"time":"2025-06-01T12:00:00.123Z","level":"info","source":"mcpfwd",
//    "session":"<id>","event":"session_closed","msg":"...","fields":{...}}
// "session" is there when the line is about one session, "event" and
// "fields" when the line is one of the named events (docs/operations.md).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace mcpfwd {

enum class log_level : std::uint8_t { trace, debug, info, warn, error, off };
enum class log_format : std::uint8_t { text, json };

const char* to_string(log_level l) noexcept;
bool parse_log_level(std::string_view s, log_level& out) noexcept;
const char* to_string(log_format f) noexcept;

// One JSON log line (newline included); `about` is searched for the session
// id ("session <id>..."), else `text` is.
std::string json_log_line(log_level l, std::string_view source, std::string_view text,
                          std::string_view event = {}, std::string_view fields_json = {},
                          std::string_view about = {});

// Lines for a descriptor nobody may be reading (standard error into a full
// pipe), written by a thread of its own so that the threads producing them
// never wait: they queue up to max_bytes; a line that does not fit is
// dropped and counted, and once there is room again a line
// "mcpfwd: warn: N log lines dropped ..." says how many went missing.
class async_line_writer {
 public:
  static constexpr std::size_t default_max_bytes = 1u << 20;

  explicit async_line_writer(int fd, std::size_t max_bytes = default_max_bytes,
                             log_format format = log_format::text) noexcept
      : fd_(fd), max_bytes_(max_bytes), format_(format) {}
  ~async_line_writer() { close(std::chrono::milliseconds(0)); }
  async_line_writer(const async_line_writer&) = delete;
  async_line_writer& operator=(const async_line_writer&) = delete;

  // One whole line, newline included. Never waits for the descriptor (the
  // writer thread starts with the first line). After close(): written only
  // if the descriptor takes it at once, else dropped.
  void push(std::string line);
  // Writes what is queued for at most `flush`, then joins the writer thread;
  // what is left is dropped (and counted). Idempotent; not from the writer.
  void close(std::chrono::milliseconds flush) noexcept;
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  void run();
  bool write_until(std::string_view s, std::chrono::steady_clock::time_point deadline) const;
  std::chrono::steady_clock::time_point deadline() const noexcept;

  std::string dropped_notice(std::uint64_t n) const;

  const int fd_;
  const std::size_t max_bytes_;
  const log_format format_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;  // the lines in queue_ and the batch being written
  std::uint64_t unreported_ = 0;  // dropped since the last notice
  bool closing_ = false, thread_failed_ = false;
  // steady_clock ticks: the writer gives up a write then (max: never).
  std::atomic<std::chrono::steady_clock::rep> deadline_{
      std::chrono::steady_clock::time_point::max().time_since_epoch().count()};
  std::atomic<std::uint64_t> dropped_{0};
  std::thread thread_;
};

class logger {
 public:
  // source is "mcpfwd" for our own lines, "server" for an upstream's stderr.
  using sink_fn = std::function<void(log_level, const char* source, std::string_view text)>;

  // With a sink, lines go to it on the calling thread (the C ABI's log
  // callback contract, always text); without, to standard error through an
  // async_line_writer, as text or JSON lines (`format`).
  logger(log_level min, sink_fn sink, log_format format = log_format::text);

  bool enabled(log_level l) const noexcept { return l >= min_ && min_ != log_level::off; }
  void log(log_level l, std::string_view text) const { emit(l, "mcpfwd", text); }
  // A line of the server's stderr; `about` is the session's log prefix
  // ("session <id>: ", or ""), shown only in JSON lines.
  void server_line(std::string_view text, std::string_view about = {}) const {
    emit(log_level::info, "server", text, {}, {}, about);
  }
  // A named event (JSON lines: "event", and "fields" when `fields_json` is
  // a serialized JSON object); text lines show `text` alone.
  void event(log_level l, std::string_view name, std::string_view text,
             std::string_view fields_json = {}) const {
    emit(l, "mcpfwd", text, name, fields_json);
  }

  void trace(std::string_view t) const { log(log_level::trace, t); }
  void debug(std::string_view t) const { log(log_level::debug, t); }
  void info(std::string_view t) const { log(log_level::info, t); }
  void warn(std::string_view t) const { log(log_level::warn, t); }
  void error(std::string_view t) const { log(log_level::error, t); }

  // Lines standard error could not take in time (0 with a sink).
  std::uint64_t dropped() const noexcept { return stderr_ ? stderr_->dropped() : 0; }
  // Flushes standard error for at most `flush` and stops its thread; lines
  // logged later are written only if standard error takes them at once.
  void close(std::chrono::milliseconds flush) noexcept {
    if (stderr_) stderr_->close(flush);
  }

 private:
  void emit(log_level l, const char* source, std::string_view text, std::string_view event = {},
            std::string_view fields_json = {}, std::string_view about = {}) const;

  log_level min_;
  log_format format_;
  sink_fn sink_;                               // empty: standard error
  std::unique_ptr<async_line_writer> stderr_;  // without a sink
};

}  // namespace mcpfwd
