// loadgen's direct client: spawns one SERVER_COMMAND (posix_spawnp, never
// fork in a threaded process) and speaks newline-delimited JSON-RPC on its
// stdin/stdout with the same request bytes the HTTP mode sends.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>

#include "loadgen.hpp"

extern char** environ;

namespace loadgen {

namespace {

std::mutex children_m;
std::vector<pid_t> children;

class direct_client final : public client {
 public:
  direct_client(net::any_io_executor ex, const options& o) : o_(o), in_(ex), out_(ex) {}
  ~direct_client() override {
    if (pid_ > 0) reap(true);
  }

  net::awaitable<bool> start(std::string& err) override {
    err = spawn();
    co_return err.empty();
  }

  net::awaitable<bool> request(const std::string& body, std::string& answer,
                               std::string& err) override {
    if (!co_await send(body, err)) co_return false;
    // The next line that is not blank and not a request or notification of
    // the server's is the answer. Only lines that mention "method" are parsed.
    for (;;) {
      const auto nl = rbuf_.find('\n', scanned_);
      if (nl != std::string::npos) {
        answer.assign(rbuf_, 0, nl);
        rbuf_.erase(0, nl + 1);
        scanned_ = 0;
        if (!answer.empty() && answer.back() == '\r') answer.pop_back();
        if (answer.find_first_not_of(" \t") == std::string::npos) continue;
        if (answer.find("\"method\"") != std::string::npos && !is_response(answer)) continue;
        co_return true;
      }
      scanned_ = rbuf_.size();
      auto [ec, n] =
          co_await out_.async_read_some(net::buffer(chunk_), net::as_tuple(net::use_awaitable));
      rbuf_.append(chunk_.data(), n);
      if (ec) {
        err = "server stdout: " + ec.message();
        co_return false;
      }
    }
  }

  net::awaitable<bool> notify(const std::string& body, std::string& err) override {
    co_return co_await send(body, err);
  }

  net::awaitable<void> finish() override {
    boost::system::error_code ignored;
    in_.close(ignored);  // EOF: the server exits
    out_.close(ignored);
    reap(false);
    co_return;
  }

 private:
  net::awaitable<bool> send(const std::string& body, std::string& err) {
    line_.assign(body);
    line_ += '\n';
    auto [ec, n] =
        co_await net::async_write(in_, net::buffer(line_), net::as_tuple(net::use_awaitable));
    (void)n;
    if (ec) err = "server stdin: " + ec.message();
    co_return !ec;
  }

  std::string spawn() {
    int p_in[2], p_out[2];
    if (::pipe2(p_in, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    if (::pipe2(p_out, O_CLOEXEC) != 0) {
      ::close(p_in[0]);
      ::close(p_in[1]);
      return std::string("pipe: ") + std::strerror(errno);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p_in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, p_out[1], 1);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    std::vector<char*> argv;
    for (const auto& a : o_.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(p_in[0]);
    ::close(p_out[1]);
    if (rc != 0) {
      ::close(p_in[1]);
      ::close(p_out[0]);
      return "cannot start '" + o_.command[0] + "': " + std::strerror(rc);
    }
    pid_ = pid;
    register_child(pid);
    in_.assign(p_in[1]);
    out_.assign(p_out[0]);
    return {};
  }

  // Wait for the server (it exits on EOF); SIGKILL after 2 s, or at once.
  void reap(bool now) {
    int st = 0;
    if (!now) {
      for (int i = 0; i < 200; ++i) {
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
          unregister_child(std::exchange(pid_, -1));
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    unregister_child(std::exchange(pid_, -1));
  }

  const options& o_;
  net::writable_pipe in_;
  net::readable_pipe out_;
  pid_t pid_ = -1;
  std::string line_, rbuf_;
  std::vector<char> chunk_ = std::vector<char>(64 * 1024);
  std::size_t scanned_ = 0;
};

}  // namespace

void register_child(pid_t pid) {
  std::lock_guard lk(children_m);
  children.push_back(pid);
}

void unregister_child(pid_t pid) {
  std::lock_guard lk(children_m);
  std::erase(children, pid);
}

void kill_children() noexcept {
  std::lock_guard lk(children_m);
  for (pid_t p : children) {
    ::kill(p, SIGKILL);
    int st = 0;
    while (::waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
  }
  children.clear();
}

std::unique_ptr<client> make_direct_client(net::any_io_executor ex, const options& o) {
  return std::make_unique<direct_client>(std::move(ex), o);
}

}  // namespace loadgen
