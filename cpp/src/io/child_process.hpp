// One upstream server process: spawned with posix_spawnp (argv directly, no
// shell) in its own process group, with its stdin, stdout and stderr on
// pipes and every other descriptor closed; reaped through a pidfd.
//
// Why not Boost.Process v2's launcher: it fork()s and runs Asio code in the
// child, which deadlocks when another thread runs the io_context
// (boostorg/process#430). posix_spawnp runs nothing of ours in the child.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/logger.hpp"
#include "base/net.hpp"

namespace mcpfwd {

// The process groups of servers that have exited while other members of their
// group (processes the server started) still ran. Each got SIGTERM when its
// leader exited; here, after the grace period, it gets SIGKILL, or at once
// when the proxy shuts down. One per proxy; thread-safe.
//
// Signalling a group whose leader is reaped: the kernel keeps a pid number
// reserved while it is the process group id of any live process, so while a
// member lives -pgid can only reach that group. Once the last member is gone
// the number is free; the watch notices that within one poll interval (the
// pid allocator would have to wrap around pid_max within it for a new group
// to get the same id), and stops.
class group_killer : public std::enable_shared_from_this<group_killer> {
 public:
  group_killer(std::chrono::milliseconds grace, const logger& log) : grace_(grace), log_(log) {}

  // The leader of pgid has been reaped and members remain: SIGKILL them once
  // the grace has passed, unless they are gone by then, on a timer of ex.
  // After kill_all(): SIGKILL at once.
  void watch(const net::any_io_executor& ex, pid_t pgid);
  // SIGKILL every group still watched, now, and cancel the timers (so none
  // keeps an io_context busy); every later watch() kills at once.
  // Idempotent; any thread.
  void kill_all() noexcept;

 private:
  net::awaitable<void> run(pid_t pgid, std::shared_ptr<net::steady_timer> t);

  std::chrono::milliseconds grace_;
  const logger& log_;
  std::mutex m_;
  bool closed_ = false;
  std::map<pid_t, std::shared_ptr<net::steady_timer>> pending_;
};

struct spawn_options {
  std::vector<std::string> argv;  // argv[0] is searched in mcpfwd's own PATH
  // The server's environment: mcpfwd's own (or none when clear_env), then
  // these changes in order: NAME=VALUE sets, a NAME without value unsets.
  bool clear_env = false;
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  std::string cwd;  // the server's working directory; empty: mcpfwd's
  // Secrets of the proxy (its auth token; set by the proxy, not a user
  // option): an environment entry whose value is one of these is left out of
  // the server's environment, whoever put it there (mcpfwd's own
  // environment, an embedder's, or an explicit change above).
  std::vector<std::string> withheld_values;
  // Where the group of an exited server goes when members remain (set by the
  // proxy; empty: they get the SIGTERM only).
  std::shared_ptr<group_killer> strays;
};

// A wait status as waitpid(2) reports it, with a readable description.
struct exit_status {
  int raw = 0;
  bool signaled() const noexcept;
  int code() const noexcept;     // exit code, or the signal number when signaled
  std::string describe() const;  // "exited with status 3" / "was killed by signal 9 (SIGKILL)"
  // The status a proxy reports when its server exited first: the code, 1 if
  // that was 0, 128 + signal if killed.
  int as_proxy_exit_code() const noexcept;
};

// A server process started but not yet given to a session (spawn_pool keeps
// these): its pid, its pidfd (-1 without pidfd_open) and our ends of its
// pipes. Destroying one still holding a process kills its group and reaps it.
struct spawned_child {
  pid_t pid = -1;
  int pidfd = -1, in = -1, out = -1, err = -1;
  spawned_child() = default;
  spawned_child(spawned_child&& o) noexcept { *this = std::move(o); }
  spawned_child& operator=(spawned_child&& o) noexcept;
  spawned_child(const spawned_child&) = delete;
  spawned_child& operator=(const spawned_child&) = delete;
  ~spawned_child() { reset(); }
  void reset() noexcept;         // kill (group), reap, close
  bool exited() const noexcept;  // already exited (left unreaped)
};

// posix_spawnp as child_process does it (throws api_error on failure). Any
// thread: it touches no io_context.
spawned_child spawn_child(const spawn_options& opts);

class child_process {
 public:
  // Throws api_error(errc::io) with the reason when the spawn fails.
  child_process(const net::any_io_executor& ex, const spawn_options& opts);
  // Adopts a process spawn_child() started (opts: for its strays).
  child_process(const net::any_io_executor& ex, const spawn_options& opts, spawned_child c);
  ~child_process();  // a child still running is killed (group) and reaped
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  net::posix::stream_descriptor& in() noexcept { return in_; }    // the child's stdin
  net::posix::stream_descriptor& out() noexcept { return out_; }  // the child's stdout
  net::posix::stream_descriptor& err() noexcept { return err_; }  // the child's stderr

  // Send a signal to the child's whole process group while it is not yet
  // reaped (so its pid cannot have been reused). No-op afterwards.
  void signal_group(int sig) noexcept;

  // Completes when the child has exited; reaps it. Call once. Before reaping
  // it sends SIGTERM to the rest of its process group (the group ends with
  // its leader), and hands the group to spawn_options::strays if members
  // remain.
  net::awaitable<exit_status> async_wait();
  bool reaped() const noexcept { return reaped_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  net::posix::stream_descriptor in_, out_, err_;
  std::optional<net::posix::stream_descriptor> pidfd_;  // empty: poll fallback
  net::steady_timer poll_timer_;
  std::shared_ptr<group_killer> strays_;
};

}  // namespace mcpfwd
