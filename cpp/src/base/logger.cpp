#include "base/logger.hpp"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

namespace mcpfwd {

const char* to_string(log_level l) noexcept {
  switch (l) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "?";
}

const char* to_string(log_format f) noexcept {
  return f == log_format::json ? "json" : "text";
}

bool parse_log_level(std::string_view s, log_level& out) noexcept {
  for (auto l : {log_level::trace, log_level::debug, log_level::info, log_level::warn,
                 log_level::error, log_level::off}) {
    if (s == to_string(l)) {
      out = l;
      return true;
    }
  }
  if (s == "warning") {
    out = log_level::warn;
    return true;
  }
  return false;
}

namespace {

// Our lines must not interleave mid-line with what others write to the same
// standard error: a pipe keeps writes of up to PIPE_BUF bytes whole, so each
// write is whole lines of at most that much (a longer line goes in pieces),
// and poll() reporting room means such a write does not wait.
constexpr std::size_t write_chunk = PIPE_BUF;
constexpr std::size_t notice_max = 384;  // at least dropped_notice()'s length
constexpr std::size_t batch_bytes = 64 * 1024;
constexpr auto poll_slice = std::chrono::milliseconds(100);

// `s` as a JSON string: control characters escaped, bytes that are not
// UTF-8 replaced by U+FFFD (a server's stderr may hold anything).
void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence (no overlongs, no surrogates), else U+FFFD.
    std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && n == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    } else if (ok && n == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  out += '"';
}

// The session a line is about: "session <id>" at the start of `s`.
std::string_view session_of(std::string_view s) {
  constexpr std::string_view head = "session ";
  if (!s.starts_with(head)) return {};
  s.remove_prefix(head.size());
  const auto end = s.find_first_of(" :");
  const std::string_view id = s.substr(0, end);
  if (id.empty() || id.size() > 64) return {};
  for (char ch : id)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return {};
  return id;
}

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) %
                  std::chrono::seconds(1);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms.count()));
  return std::string(buf, n) + frac;
}

}  // namespace

std::string json_log_line(log_level l, std::string_view source, std::string_view text,
                          std::string_view event, std::string_view fields_json,
                          std::string_view about) {
  std::string line;
  line.reserve(text.size() + fields_json.size() + 128);
  line += "{\"time\":\"";
  line += utc_now();
  line += "\",\"level\":\"";
  line += to_string(l);
  line += "\",\"source\":";
  append_json_string(line, source);
  std::string_view session = session_of(about);
  if (session.empty()) session = session_of(text);
  if (!session.empty()) {
    line += ",\"session\":";
    append_json_string(line, session);
  }
  if (!event.empty()) {
    line += ",\"event\":";
    append_json_string(line, event);
  }
  line += ",\"msg\":";
  append_json_string(line, text);
  if (!fields_json.empty()) {
    line += ",\"fields\":";
    line += fields_json;
  }
  line += "}\n";
  return line;
}

std::string async_line_writer::dropped_notice(std::uint64_t n) const {
  const std::string text =
      std::to_string(n) + " log lines dropped: standard error was not read fast enough";
  if (format_ == log_format::json)
    return json_log_line(log_level::warn, "mcpfwd", text, "log_lines_dropped",
                         "{\"dropped\":" + std::to_string(n) + "}");
  return "mcpfwd: warn: " + text + "\n";
}

std::chrono::steady_clock::time_point async_line_writer::deadline() const noexcept {
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(deadline_.load(std::memory_order_relaxed)));
}

// Writes s, waiting for room at most until `deadline` (re-read every poll
// slice: close() may bring it forward). False if it gave up or the
// descriptor failed (then there is nowhere left to report it).
bool async_line_writer::write_until(std::string_view s,
                                    std::chrono::steady_clock::time_point limit) const {
  while (!s.empty()) {
    const auto now = std::chrono::steady_clock::now();
    const auto until = std::min(limit, deadline());
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    pollfd p{fd_, POLLOUT, 0};
    const int r = ::poll(&p, 1,
                         static_cast<int>(std::clamp(left, std::chrono::milliseconds(0),
                                                     std::chrono::milliseconds(poll_slice))
                                              .count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (r > 0 && (p.revents & (POLLERR | POLLNVAL)))) return false;
    if (r == 0) {
      if (std::chrono::steady_clock::now() >= std::min(limit, deadline())) return false;
      continue;
    }
    std::size_t len = std::min(s.size(), write_chunk);
    if (len < s.size()) {
      const auto nl = s.substr(0, len).rfind('\n');
      if (nl != std::string_view::npos) len = nl + 1;
    }
    const ssize_t n = ::write(fd_, s.data(), len);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void async_line_writer::push(std::string line) {
  std::unique_lock lk(m_);
  if (!closing_ && !thread_.joinable() && !thread_failed_) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      thread_failed_ = true;
    }
  }
  if (closing_ || thread_failed_) {  // no writer thread: only what goes at once
    lk.unlock();
    if (!write_until(line, std::chrono::steady_clock::now()))
      dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (queued_bytes_ + (unreported_ > 0 ? notice_max : 0) + line.size() > max_bytes_) {
    ++unreported_;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (unreported_ > 0) {  // room again: first say what went missing
    queue_.push_back(dropped_notice(std::exchange(unreported_, 0)));
    queued_bytes_ += queue_.back().size();
  }
  queued_bytes_ += line.size();
  queue_.push_back(std::move(line));
  lk.unlock();
  cv_.notify_one();
}

void async_line_writer::run() {
  // No signal is for this thread; above all, standard error may be a pipe
  // whose reader is gone: EPIPE, not a SIGPIPE that kills the host.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);

  std::unique_lock lk(m_);
  for (;;) {
    cv_.wait(lk, [this] { return !queue_.empty() || unreported_ > 0 || closing_; });
    if (queue_.empty() && unreported_ > 0) {  // room again: say what went missing
      queue_.push_back(dropped_notice(std::exchange(unreported_, 0)));
      queued_bytes_ += queue_.back().size();
    }
    if (queue_.empty()) return;  // closing, all written
    std::string batch = std::move(queue_.front());
    queue_.pop_front();
    while (!queue_.empty() && batch.size() + queue_.front().size() <= batch_bytes) {
      batch += queue_.front();
      queue_.pop_front();
    }
    lk.unlock();
    const bool ok = write_until(batch, std::chrono::steady_clock::time_point::max());
    lk.lock();
    queued_bytes_ -= batch.size();
    if (!ok && closing_) {  // out of time: what is left is lost
      dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
      queue_.clear();
      queued_bytes_ = 0;
      unreported_ = 0;
      return;
    }
  }
}

void async_line_writer::close(std::chrono::milliseconds flush) noexcept {
  {
    std::lock_guard lk(m_);
    if (closing_) return;
    closing_ = true;
    deadline_.store((std::chrono::steady_clock::now() + flush).time_since_epoch().count(),
                    std::memory_order_relaxed);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

logger::logger(log_level min, sink_fn sink, log_format format)
    : min_(min), format_(format), sink_(std::move(sink)) {
  if (!sink_ && min_ != log_level::off)
    stderr_ = std::make_unique<async_line_writer>(STDERR_FILENO,
                                                  async_line_writer::default_max_bytes, format_);
}

void logger::emit(log_level l, const char* source, std::string_view text, std::string_view event,
                  std::string_view fields_json, std::string_view about) const {
  if (!enabled(l)) return;
  if (sink_) {
    sink_(l, source, text);
    return;
  }
  if (format_ == log_format::json) {
    stderr_->push(json_log_line(l, source, text, event, fields_json, about));
    return;
  }
  std::string line;
  line.reserve(text.size() + 24);
  line += source;
  line += ": ";
  if (source[0] == 'm') {  // our own lines carry their level
    line += to_string(l);
    line += ": ";
  }
  line += text;
  line += '\n';
  stderr_->push(std::move(line));
}

}  // namespace mcpfwd
