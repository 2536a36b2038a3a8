#include "proxy.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.hpp"
#include "stdio_session.hpp"

namespace mcpfwd {

namespace {

int dup_cloexec(int fd, const char* what) {
  int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (d < 0)
    throw api_error(errc::io, std::string("cannot use ") + what + " descriptor " +
                                  std::to_string(fd) + ": " + std::strerror(errno));
  return d;
}

// epoll refuses regular files and some character devices (/dev/null).
bool pollable(int fd) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return true;
  epoll_event ev{};
  ev.events = EPOLLIN;
  const bool ok = ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 || errno != EPERM;
  ::close(ep);
  return ok;
}

void copy_fd(int from, int to) {
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return;
      off += w;
    }
  }
}

// Writing to a pipe whose reader is gone must give EPIPE, not kill the host.
void block_sigpipe() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

// Give a non-pollable descriptor a pipe front that Asio can watch, with a
// thread copying between them. Takes ownership of fd; returns our pipe end.
int pipe_front(int fd, bool reading, std::vector<std::thread>& pumps) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    ::close(fd);
    throw api_error(errc::io, std::string("pipe: ") + std::strerror(errno));
  }
  const int ours = reading ? p[0] : p[1];
  const int theirs = reading ? p[1] : p[0];
  pumps.emplace_back([fd, theirs, reading] {
    block_sigpipe();
    if (reading)
      copy_fd(fd, theirs);
    else
      copy_fd(theirs, fd);
    ::close(theirs);
    ::close(fd);
  });
  return ours;
}

}  // namespace

proxy::proxy(proxy_config cfg) : cfg_(std::move(cfg)), log_(cfg_.level, cfg_.log_sink) {
  if (cfg_.upstream.argv.empty() || cfg_.upstream.argv[0].empty())
    throw api_error(errc::invalid_arg, "no upstream server command configured");
  if (cfg_.stdio_in < 0 || cfg_.stdio_out < 0)
    throw api_error(errc::invalid_arg, "no downstream configured (set the stdio descriptors)");
  if (cfg_.max_message_bytes < 64)
    throw api_error(errc::invalid_arg, "max message size must be at least 64 bytes");
}

proxy::~proxy() {
  stop();
  join();
}

void proxy::start() {
  {
    std::lock_guard lk(m_);
    if (started_) throw api_error(errc::state, "proxy already started");
  }
  int in = dup_cloexec(cfg_.stdio_in, "stdio input");
  int out = -1;
  try {
    out = dup_cloexec(cfg_.stdio_out, "stdio output");
  } catch (...) {
    ::close(in);
    throw;
  }
  if (!pollable(in)) in = pipe_front(in, true, pumps_);
  if (!pollable(out)) out = pipe_front(out, false, pumps_);

  stdio_session_options so;
  so.max_message_bytes = cfg_.max_message_bytes;
  so.shutdown_grace = cfg_.shutdown_grace;
  // The session takes the descriptors, and closes them even if spawning fails.
  session_ = std::make_shared<stdio_session>(ioc_.get_executor(), cfg_.upstream, in, out, so, log_,
                                             [this](int code) { finished(code); });
  {
    std::lock_guard lk(m_);
    started_ = true;
  }
  session_->start();
  work_.emplace(ioc_.get_executor());
  threads_.emplace_back([this] {
    block_sigpipe();
    for (;;) {
      try {
        ioc_.run();
        break;
      } catch (const std::exception& e) {
        log_.error(std::string("internal error on I/O thread: ") + e.what());
      }
    }
  });
}

void proxy::stop() noexcept {
  std::shared_ptr<stdio_session> s;
  {
    std::lock_guard lk(m_);
    s = session_;
  }
  if (s) s->stop();
}

void proxy::finished(int code) {
  {
    std::lock_guard lk(m_);
    done_ = true;
    exit_code_ = code;
  }
  cv_.notify_all();
  work_.reset();  // let run() return once the last handlers are done
}

std::optional<int> proxy::wait(std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lk(m_);
  if (!started_) throw api_error(errc::state, "proxy was not started");
  if (timeout) {
    if (!cv_.wait_for(lk, *timeout, [this] { return done_; })) return std::nullopt;
  } else {
    cv_.wait(lk, [this] { return done_; });
  }
  return exit_code_;
}

void proxy::join() noexcept {
  bool started;
  {
    std::lock_guard lk(m_);
    started = started_;
  }
  if (started) {
    // The session finishes by itself after stop(): the grace periods bound it.
    std::unique_lock lk(m_);
    cv_.wait(lk, [this] { return done_; });
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  {
    std::lock_guard lk(m_);
    session_.reset();  // closes our pipe ends, so pump threads see EOF
  }
  for (auto& t : pumps_)
    if (t.joinable()) t.join();
  pumps_.clear();
}

std::string proxy::stats_json() const {
  std::shared_ptr<stdio_session> s;
  {
    std::lock_guard lk(m_);
    s = session_;
  }
  if (!s) return R"({"state":"new"})";
  return s->stats_json();
}

}  // namespace mcpfwd
