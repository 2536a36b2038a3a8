#include "io/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "base/errors.hpp"

extern char** environ;

namespace mcpfwd {

bool exit_status::signaled() const noexcept {
  return WIFSIGNALED(raw);
}
int exit_status::code() const noexcept {
  return signaled() ? WTERMSIG(raw) : WEXITSTATUS(raw);
}

std::string exit_status::describe() const {
  if (signaled()) {
    const char* name = sigabbrev_np(WTERMSIG(raw));
    return "was killed by signal " + std::to_string(WTERMSIG(raw)) +
           (name ? std::string(" (SIG") + name + ")" : std::string());
  }
  return "exited with status " + std::to_string(WEXITSTATUS(raw));
}

int exit_status::as_proxy_exit_code() const noexcept {
  if (signaled()) return 128 + WTERMSIG(raw);
  return WEXITSTATUS(raw) == 0 ? 1 : WEXITSTATUS(raw);
}

namespace {

// Owns a descriptor until it is handed to Asio.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
  int release() noexcept { return std::exchange(fd, -1); }
};

struct spawn_attrs {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  spawn_attrs() {
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
  }
  ~spawn_attrs() {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
  }
  spawn_attrs(const spawn_attrs&) = delete;
  spawn_attrs& operator=(const spawn_attrs&) = delete;
};

[[noreturn]] void fail(std::string_view what, int err) {
  throw api_error(errc::io, std::string(what) + ": " + std::strerror(err));
}

}  // namespace

spawned_child spawn_child(const spawn_options& opts) {
  if (opts.argv.empty() || opts.argv[0].empty())
    throw api_error(errc::invalid_arg, "upstream command is empty");
  int p_in[2], p_out[2], p_err[2];
  if (::pipe2(p_in, O_CLOEXEC) != 0) fail("pipe", errno);
  fd_guard in_r{p_in[0]}, in_w{p_in[1]};
  if (::pipe2(p_out, O_CLOEXEC) != 0) fail("pipe", errno);
  fd_guard out_r{p_out[0]}, out_w{p_out[1]};
  if (::pipe2(p_err, O_CLOEXEC) != 0) fail("pipe", errno);
  fd_guard err_r{p_err[0]}, err_w{p_err[1]};

  spawn_attrs sa;
  // dup2 onto 0/1/2 clears close-on-exec there; closefrom(3) then makes sure
  // no other descriptor of ours (sockets, other sessions' pipes) leaks in.
  posix_spawn_file_actions_adddup2(&sa.fa, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&sa.fa, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&sa.fa, err_w.fd, 2);
  posix_spawn_file_actions_addclosefrom_np(&sa.fa, 3);
  // Own process group (so signals reach its children too and a terminal's
  // Ctrl-C is ours to forward); an empty signal mask and default handlers,
  // whatever the host process blocked or ignored (Python ignores SIGPIPE).
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setpgroup(&sa.at, 0);
  posix_spawnattr_setsigmask(&sa.at, &empty);
  posix_spawnattr_setsigdefault(&sa.at, &all);
  posix_spawnattr_setflags(&sa.at,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  if (!opts.cwd.empty()) posix_spawn_file_actions_addchdir_np(&sa.fa, opts.cwd.c_str());

  std::vector<char*> argv;
  argv.reserve(opts.argv.size() + 1);
  for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  // The environment: only built when it differs from ours.
  std::vector<std::string> env_store;
  std::vector<char*> envp;
  char** env = environ;
  if (opts.clear_env || !opts.env.empty() || !opts.withheld_values.empty()) {
    if (!opts.clear_env)
      for (char** e = environ; e && *e; ++e) env_store.emplace_back(*e);
    for (const auto& [name, value] : opts.env) {
      std::erase_if(env_store, [&](const std::string& kv) {
        return kv.size() > name.size() && kv[name.size()] == '=' && kv.starts_with(name);
      });
      if (value) env_store.push_back(name + "=" + *value);
    }
    std::erase_if(env_store, [&](const std::string& kv) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) return false;
      const std::string_view value = std::string_view(kv).substr(eq + 1);
      return std::ranges::any_of(opts.withheld_values, [&](const std::string& secret) {
        return !secret.empty() && value == secret;
      });
    });
    envp.reserve(env_store.size() + 1);
    for (auto& kv : env_store) envp.push_back(kv.data());
    envp.push_back(nullptr);
    env = envp.data();
  }

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &sa.fa, &sa.at, argv.data(), env);
  if (rc != 0)
    fail("cannot start upstream '" + opts.argv[0] + "'" +
             (opts.cwd.empty() ? std::string() : " in " + opts.cwd),
         rc);
  spawned_child c;
  c.pid = pid;
  c.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));  // -1: poll with waitpid
  // The child's ends are closed here by the guards; ours go to the caller.
  c.in = in_w.release();
  c.out = out_r.release();
  c.err = err_r.release();
  return c;
}

spawned_child& spawned_child::operator=(spawned_child&& o) noexcept {
  if (this != &o) {
    reset();
    pid = std::exchange(o.pid, -1);
    pidfd = std::exchange(o.pidfd, -1);
    in = std::exchange(o.in, -1);
    out = std::exchange(o.out, -1);
    err = std::exchange(o.err, -1);
  }
  return *this;
}

void spawned_child::reset() noexcept {
  if (pid > 0) {
    ::kill(-pid, SIGKILL);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
  }
  for (int* fd : {&pidfd, &in, &out, &err})
    if (*fd >= 0) ::close(std::exchange(*fd, -1));
}

bool spawned_child::exited() const noexcept {
  siginfo_t si{};
  return pid > 0 &&
         ::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         si.si_pid == pid;
}

child_process::child_process(const net::any_io_executor& ex, const spawn_options& opts)
    : child_process(ex, opts, spawn_child(opts)) {}

child_process::child_process(const net::any_io_executor& ex, const spawn_options& opts,
                             spawned_child c)
    : in_(ex), out_(ex), err_(ex), poll_timer_(ex), strays_(opts.strays) {
  if (c.pidfd >= 0) pidfd_.emplace(ex, std::exchange(c.pidfd, -1));
  in_.assign(std::exchange(c.in, -1));
  out_.assign(std::exchange(c.out, -1));
  err_.assign(std::exchange(c.err, -1));
  pid_ = std::exchange(c.pid, -1);  // last: until here c kills and reaps it on a throw
}

child_process::~child_process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

void child_process::signal_group(int sig) noexcept {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, sig);
}

net::awaitable<exit_status> child_process::async_wait() {
  exit_status st;
  bool exited = false;  // false: someone else reaped it (the host ignores SIGCHLD)
  for (;;) {
    if (pidfd_) {
      auto [ec] = co_await pidfd_->async_wait(net::posix::descriptor_base::wait_read,
                                              net::as_tuple(net::use_awaitable));
      if (ec == net::error::operation_aborted) continue;  // a cancel is not an exit
      if (ec) pidfd_.reset();                             // unexpected: fall back to polling
    }
    // WNOWAIT: look, but leave the zombie for now (see below).
    siginfo_t si{};
    const int r = ::waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOHANG | WNOWAIT);
    if (r == 0 && si.si_pid == pid_) {
      exited = true;
      break;
    }
    if (r < 0 && errno != EINTR) break;  // not our child any more: treat as gone
    if (!pidfd_) {
      poll_timer_.expires_after(std::chrono::milliseconds(20));
      co_await poll_timer_.async_wait(net::as_tuple(net::use_awaitable));
    }
  }
  if (exited) {
    // The group ends with its leader. Unreaped, the leader is a zombie that
    // keeps its pid, which is the group's id, from being reused: the signal
    // can only reach what is left of its own group (processes the server
    // started, which would otherwise outlive the session).
    ::kill(-pid_, SIGTERM);
    int r;
    while ((r = ::waitpid(pid_, &st.raw, 0)) < 0 && errno == EINTR) {
    }
    if (r != pid_) st.raw = 0;
  }
  reaped_ = true;
  if (pidfd_) {
    error_code ignored;
    pidfd_->close(ignored);
  }
  // Members left (they may ignore SIGTERM): SIGKILL after the grace. The
  // group id is still reserved by them, so -pid_ is still their group.
  if (exited && strays_ && ::kill(-pid_, 0) == 0) strays_->watch(out_.get_executor(), pid_);
  co_return st;
}

void group_killer::watch(const net::any_io_executor& ex, pid_t pgid) {
  std::lock_guard lk(m_);
  if (closed_) {
    ::kill(-pgid, SIGKILL);
    return;
  }
  auto t = std::make_shared<net::steady_timer>(net::make_strand(ex));
  pending_[pgid] = t;  // a stale entry for a reused id ends its watch (run sees t changed)
  net::co_spawn(
      t->get_executor(), run(pgid, t), [self = shared_from_this(), pgid](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          self->log_.error("process group " + std::to_string(pgid) + ": watch failed: " + x.what());
        } catch (...) {
        }
      });
}

net::awaitable<void> group_killer::run(pid_t pgid, std::shared_ptr<net::steady_timer> t) {
  // Polled rather than waited for: the group may empty early, and its id is
  // only safe to signal while it does not.
  constexpr auto poll = std::chrono::milliseconds(100);
  const auto deadline = std::chrono::steady_clock::now() + grace_;
  for (;;) {
    t->expires_at(std::min(deadline, std::chrono::steady_clock::now() + poll));
    co_await t->async_wait(net::as_tuple(net::use_awaitable));
    bool killed = false;
    {
      std::lock_guard lk(m_);
      const auto it = pending_.find(pgid);
      if (it == pending_.end() || it->second != t) co_return;  // kill_all() took it
      const bool gone = ::kill(-pgid, 0) != 0 && errno == ESRCH;
      if (!gone && std::chrono::steady_clock::now() < deadline) continue;
      if (!gone) killed = ::kill(-pgid, SIGKILL) == 0;
      pending_.erase(it);
    }
    if (killed)  // (not under the lock: the log may be a user callback)
      log_.info("process group " + std::to_string(pgid) + " outlived its server by " +
                std::to_string(grace_.count()) + " ms: sent SIGKILL");
    co_return;
  }
}

void group_killer::kill_all() noexcept {
  std::lock_guard lk(m_);
  closed_ = true;
  for (auto& [pgid, t] : pending_) {
    ::kill(-pgid, SIGKILL);
    try {
      net::post(t->get_executor(), [t] { t->cancel(); });
    } catch (...) {  // no memory: the timer just runs out
    }
  }
  pending_.clear();
}

}  // namespace mcpfwd
