// alloc_guard — the heap-allocation regression guard (a count, not a timing).
//
//   alloc_guard MCPFWD MALLOC_COUNT_LIB SERVER MAX_ALLOCS_PER_CALL
//
// Runs the real `MCPFWD --listen 127.0.0.1:0 -- SERVER` under
// LD_PRELOAD=MALLOC_COUNT_LIB (bench/malloc_count.c: counts mcpfwd's malloc,
// calloc, realloc and aligned allocations into a shared file; the server it
// spawns is not counted), opens one session over one keep-alive HTTP
// connection and sends tools/call echo requests one after another, as
// bench/run.sh's headline figure does: allocations per forwarded call are
// ((after 3,000 calls) - (after 1,000 calls)) / 2,000 counted from the same
// point, so session setup and one-off costs cancel out. Fails (exit 1) when
// that figure is over MAX_ALLOCS_PER_CALL, when an answer is wrong, or when
// nothing was counted (the preload did not take). Plain C++ and POSIX only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {

constexpr int warmup_calls = 100;
constexpr int short_calls = 1000;
constexpr int long_calls = 3000;
constexpr int io_timeout_ms = 10000;

[[noreturn]] void fail(const std::string& why) {
  throw std::runtime_error(why);
}

// The process under test: killed (SIGTERM, then SIGKILL) and reaped on every path.
struct proxy_process {
  pid_t pid = -1;
  int out = -1;  // its stdout (the URL line)
  ~proxy_process() {
    if (out >= 0) ::close(out);
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

void wait_for(int fd, short events) {
  pollfd p{fd, events, 0};
  const int r = ::poll(&p, 1, io_timeout_ms);
  if (r == 0) fail("timed out waiting for mcpfwd");
  if (r < 0 && errno != EINTR) fail(std::string("poll: ") + std::strerror(errno));
}

// Reads what is there (after waiting for it); 0 at end of stream.
std::size_t read_some(int fd, char* buf, std::size_t n) {
  for (;;) {
    wait_for(fd, POLLIN);
    const ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno != EINTR && errno != EAGAIN) fail(std::string("read: ") + std::strerror(errno));
  }
}

std::string read_url(int fd) {
  std::string line;
  char c;
  while (line.size() < 256) {
    if (read_some(fd, &c, 1) == 0) fail("mcpfwd exited before printing its URL");
    if (c == '\n') return line;
    line += c;
  }
  fail("no URL line from mcpfwd");
}

std::uint64_t allocations(const std::string& counter_file) {
  fd_guard f{::open(counter_file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail("cannot open " + counter_file);
  std::uint64_t n = 0;
  if (::pread(f.fd, &n, sizeof n, 0) != static_cast<ssize_t>(sizeof n))
    fail("the allocation counter file is empty: was the preload library loaded?");
  return n;
}

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) !=
        std::tolower(static_cast<unsigned char>(name[i])))
      return false;
  return true;
}

// One HTTP/1.1 keep-alive connection to mcpfwd.
class connection {
 public:
  connection(std::uint16_t port) : port_(port) {
    s_.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s_.fd < 0) fail("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s_.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      fail(std::string("connect: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(s_.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  // POSTs body to /mcp; returns the status and the body (de-chunked).
  int post(const std::string& body, std::string& answer) {
    std::string req = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                      "\r\nContent-Type: application/json\r\n"
                      "Accept: application/json, text/event-stream\r\n";
    if (!session_.empty())
      req += "Mcp-Session-Id: " + session_ + "\r\nMCP-Protocol-Version: 2025-06-18\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    for (std::size_t off = 0; off < req.size();) {
      const ssize_t w = ::send(s_.fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail(std::string("send: ") + std::strerror(errno));
      off += static_cast<std::size_t>(w);
    }
    return read_response(answer);
  }

  const std::string& session() const { return session_; }

 private:
  void fill() {
    char buf[16384];
    const std::size_t n = read_some(s_.fd, buf, sizeof buf);
    if (n == 0) fail("mcpfwd closed the connection");
    in_.append(buf, n);
  }
  std::string take_line() {
    std::size_t eol;
    while ((eol = in_.find("\r\n")) == std::string::npos) fill();
    std::string line = in_.substr(0, eol);
    in_.erase(0, eol + 2);
    return line;
  }
  std::string take(std::size_t n) {
    while (in_.size() < n) fill();
    std::string s = in_.substr(0, n);
    in_.erase(0, n);
    return s;
  }
  int read_response(std::string& body) {
    const std::string status = take_line();
    if (status.rfind("HTTP/1.1 ", 0) != 0) fail("not an HTTP/1.1 answer: " + status);
    const int code = std::atoi(status.c_str() + 9);
    long length = -1;
    bool chunked = false;
    for (std::string h = take_line(); !h.empty(); h = take_line()) {
      const std::size_t colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (iequals_prefix(h, "content-length:")) length = std::atol(value.c_str());
      if (iequals_prefix(h, "transfer-encoding:") && value.find("chunked") != std::string::npos)
        chunked = true;
      if (iequals_prefix(h, "mcp-session-id:")) session_ = value;
    }
    body.clear();
    if (chunked) {
      for (;;) {
        const std::size_t n = std::strtoul(take_line().c_str(), nullptr, 16);
        if (n == 0) {
          while (!take_line().empty()) {
          }
          break;
        }
        body += take(n);
        take_line();
      }
    } else if (length > 0) {
      body = take(static_cast<std::size_t>(length));
    }
    return code;
  }

  std::uint16_t port_;
  fd_guard s_;
  std::string in_;
  std::string session_;
};

void call(connection& c, int id, std::string& answer) {
  const std::string token = "alloc-guard-" + std::to_string(id);
  const std::string body =
      R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
      R"(,"method":"tools/call","params":{"name":"echo","arguments":{"text":")" + token + R"("}}})";
  const int code = c.post(body, answer);
  if (code != 200 || answer.find("\"id\":" + std::to_string(id)) == std::string::npos ||
      answer.find(token) == std::string::npos)
    fail("call " + std::to_string(id) + ": HTTP " + std::to_string(code) + ", answer " + answer);
}

int run(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s MCPFWD MALLOC_COUNT_LIB SERVER MAX_ALLOCS_PER_CALL\n", argv[0]);
    return 2;
  }
  const double max_per_call = std::atof(argv[4]);
  char tmpl[] = "/tmp/mcpfwd-alloc-guard-XXXXXX";
  fd_guard tmp{::mkstemp(tmpl)};
  if (tmp.fd < 0) fail("mkstemp");
  const std::string counter_file = tmpl;
  struct unlink_guard {
    std::string path;
    ~unlink_guard() { ::unlink(path.c_str()); }
  } unlink_counter{counter_file};

  // The environment: ours, plus the preload and its counter file.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0 && std::strncmp(*e, "MALLOC_COUNT_FILE=", 18) != 0)
      env_store.emplace_back(*e);
  env_store.push_back(std::string("LD_PRELOAD=") + argv[2]);
  env_store.push_back("MALLOC_COUNT_FILE=" + counter_file);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string a0 = argv[1], a1 = "--listen", a2 = "127.0.0.1:0", a3 = "--", a4 = argv[3];
  char* args[] = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data(), nullptr};

  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail("pipe");
  proxy_process proxy;
  proxy.out = p[0];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  const int rc = posix_spawn(&proxy.pid, argv[1], &fa, nullptr, args, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  if (rc != 0) {
    proxy.pid = -1;
    fail(std::string("spawn ") + argv[1] + ": " + std::strerror(rc));
  }
  const std::string url = read_url(proxy.out);
  const std::string prefix = "http://127.0.0.1:";
  if (url.rfind(prefix, 0) != 0 || url.size() < prefix.size() + 5 ||
      url.substr(url.size() - 4) != "/mcp")
    fail("unexpected URL line from mcpfwd: " + url);
  const auto port = static_cast<std::uint16_t>(std::atoi(url.c_str() + prefix.size()));

  connection c(port);
  std::string answer;
  const int init = c.post(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
      R"("capabilities":{},"clientInfo":{"name":"mcpfwd-alloc-guard","version":"1.0.0"}}})",
      answer);
  if (init != 200 || c.session().empty()) fail("initialize: HTTP " + std::to_string(init));
  const int ack = c.post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", answer);
  if (ack != 202) fail("notifications/initialized: HTTP " + std::to_string(ack));

  int id = 1;
  for (int i = 0; i < warmup_calls; ++i) call(c, id++, answer);
  const std::uint64_t n0 = allocations(counter_file);
  for (int i = 0; i < short_calls; ++i) call(c, id++, answer);
  const std::uint64_t n1 = allocations(counter_file);
  for (int i = 0; i < long_calls; ++i) call(c, id++, answer);
  const std::uint64_t n2 = allocations(counter_file);

  const double per_call = (static_cast<double>(n2 - n1) - static_cast<double>(n1 - n0)) /
                          static_cast<double>(long_calls - short_calls);
  std::printf(
      "heap allocations per forwarded call: %.2f (limit %.2f; %llu in %d calls, %llu in %d)\n",
      per_call, max_per_call, static_cast<unsigned long long>(n1 - n0), short_calls,
      static_cast<unsigned long long>(n2 - n1), long_calls);
  if (n1 - n0 < static_cast<std::uint64_t>(short_calls))
    fail("fewer allocations than calls were counted: the count did not work");
  if (per_call > max_per_call) {
    std::printf("FAIL: more heap allocations per call than the limit (tests/CMakeLists.txt)\n");
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "alloc_guard: %s\n", e.what());
    return 1;
  }
}
