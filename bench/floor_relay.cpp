// floor_relay — the least a forwarding proxy of mcpfwd's architecture can do, as a
// yardstick for the benchmark's "floor" figure (bench/floor.sh, docs/benchmarks.md).
//
//   floor_relay [--port P] -- SERVER [ARGS...]   prints http://127.0.0.1:PORT/mcp
//
// HTTP/1.1 keep-alive on loopback in, one spawned stdio server per connection
// (posix_spawnp, two pipes), a pipe round trip per request, HTTP out: the same
// hops as mcpfwd, with nothing else. One thread, one epoll loop, level-triggered,
// one read per readiness, gathered writes (writev), no heap allocation on the hot
// path once the buffers have grown, no JSON parsing. Per call, in the steady state:
// epoll_wait, read (socket), writev (pipe), epoll_wait, read (pipe), writev (socket).
//
// What it skips, and a real proxy may not: sessions are connections (loadgen keeps one
// connection per session, so no session table, no Mcp-Session-Id check); the body's end
// is found by Content-Length only (no chunked bodies); a request is a POST whose body
// contains "id" (answered with the server's next stdout line, as application/json), a
// notification a POST without it (forwarded, answered 202); no JSON-RPC id matching, no
// SSE, no GET stream, no timeouts, no limits but a 16 MiB request. initialize answers
// carry a made-up Mcp-Session-Id. DELETE: 200, the server stays until the connection
// closes. Closing a connection closes the server's stdin (it exits; SIGCHLD is ignored,
// so the kernel reaps it).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

extern char** environ;

namespace {

constexpr std::size_t read_chunk = 64 * 1024;
constexpr std::size_t max_request = 16u << 20;

enum class role : std::uint32_t { listener, socket, to_child, from_child };

struct conn {
  int sock = -1, to_child = -1, from_child = -1;
  pid_t pid = -1;
  std::string in;         // bytes from the client not yet handled
  std::string child_in;   // bytes for the server not yet written (a full pipe)
  std::string child_out;  // bytes from the server not yet answered
  std::string out;        // response bytes not yet written (a full socket)
  bool waiting = false;   // a request went to the server; its answer is due
  bool initialize = false;
  bool close_after = false;
};

int epfd = -1;
std::vector<std::string> server_argv;
std::unordered_map<int, std::unique_ptr<conn>> conns;  // by socket
// epoll data: (fd << 2) | role, and by fd the connection it belongs to.
std::vector<conn*> owner;
unsigned long next_session = 1;

std::uint64_t tag(int fd, role r) {
  return (static_cast<std::uint64_t>(fd) << 2) | static_cast<std::uint32_t>(r);
}

void watch(int fd, role r, conn* c, std::uint32_t events, int op = EPOLL_CTL_ADD) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag(fd, r);
  if (::epoll_ctl(epfd, op, fd, &ev) != 0) {
    std::perror("floor_relay: epoll_ctl");
    std::exit(1);
  }
  if (static_cast<std::size_t>(fd) >= owner.size()) owner.resize(static_cast<std::size_t>(fd) + 64);
  owner[static_cast<std::size_t>(fd)] = c;
}

void close_conn(conn* c) {
  for (int fd : {c->sock, c->to_child, c->from_child}) {
    if (fd < 0) continue;
    owner[static_cast<std::size_t>(fd)] = nullptr;
    ::close(fd);  // also leaves the epoll set (no duplicates of these descriptors)
  }
  conns.erase(c->sock);
}

bool spawn_server(conn* c) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return false;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return false;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);  // dup2 clears O_CLOEXEC on 0 and 1
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  sigaddset(&def, SIGCHLD);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (auto& a : server_argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = ::posix_spawnp(&c->pid, argv[0], &fa, &at, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    errno = rc;
    return false;
  }
  ::fcntl(in[1], F_SETFL, O_NONBLOCK);
  ::fcntl(out[0], F_SETFL, O_NONBLOCK);
  c->to_child = in[1];
  c->from_child = out[0];
  watch(c->from_child, role::from_child, c, EPOLLIN);
  watch(c->to_child, role::to_child, c, 0);  // EPOLLOUT only while its pipe is full
  return true;
}

// Write what fits now; keep the rest in `pending` and wait for EPOLLOUT on fd.
// False: the descriptor is broken.
bool queue_write(int fd, role r, conn* c, std::string& pending, std::string_view a,
                 std::string_view b) {
  if (!pending.empty()) {  // already queued behind earlier bytes
    pending.append(a);
    pending.append(b);
    return true;
  }
  iovec iov[2] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
  ssize_t n;
  do n = ::writev(fd, iov, 2);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN) return false;
  const std::size_t done = n < 0 ? 0 : static_cast<std::size_t>(n);
  if (done == a.size() + b.size()) return true;
  if (done < a.size()) {
    pending.assign(a.substr(done));
    pending.append(b);
  } else {
    pending.assign(b.substr(done - a.size()));
  }
  watch(fd, r, c, r == role::socket ? EPOLLIN | EPOLLOUT : EPOLLOUT, EPOLL_CTL_MOD);
  return true;
}

bool respond(conn* c, std::string_view status, std::string_view body, bool json) {
  char head[256];
  int n = std::snprintf(head, sizeof head, "HTTP/1.1 %.*s\r\nContent-Length: %zu\r\n%s",
                        static_cast<int>(status.size()), status.data(), body.size(),
                        json ? "Content-Type: application/json\r\n" : "");
  if (c->initialize) {
    n += std::snprintf(head + n, sizeof head - static_cast<std::size_t>(n),
                       "Mcp-Session-Id: floor-%lu\r\n", next_session++);
    c->initialize = false;
  }
  if (c->close_after)
    n +=
        std::snprintf(head + n, sizeof head - static_cast<std::size_t>(n), "Connection: close\r\n");
  n += std::snprintf(head + n, sizeof head - static_cast<std::size_t>(n), "\r\n");
  return queue_write(c->sock, role::socket, c, c->out,
                     std::string_view(head, static_cast<std::size_t>(n)), body);
}

bool header_is(std::string_view line, std::string_view name) {
  return line.size() > name.size() && line[name.size()] == ':' &&
         ::strncasecmp(line.data(), name.data(), name.size()) == 0;
}

std::string_view header_value(std::string_view line, std::size_t name_size) {
  line.remove_prefix(name_size + 1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  return line;
}

// Handle the requests buffered in c->in, one at a time (the next waits for the
// server's answer to this one, and for the previous response to be written).
// False: close the connection.
bool handle(conn* c) {
  while (!c->waiting && c->out.empty() && !c->close_after) {
    const std::string_view in = c->in;
    const auto end = in.find("\r\n\r\n");
    if (end == std::string_view::npos) return in.size() <= 64 * 1024;
    const std::string_view head = in.substr(0, end + 2);
    std::size_t length = 0;
    bool close = false;
    std::size_t pos = head.find("\r\n") + 2;
    const std::string_view method = head.substr(0, head.find(' '));
    while (pos < head.size()) {
      const auto eol = head.find("\r\n", pos);
      const std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      if (header_is(line, "content-length")) {
        const auto v = header_value(line, 14);
        if (std::from_chars(v.data(), v.data() + v.size(), length).ec != std::errc()) return false;
      } else if (header_is(line, "connection")) {
        const auto v = header_value(line, 10);
        close = v.size() == 5 && ::strncasecmp(v.data(), "close", 5) == 0;
      }
    }
    if (length > max_request) return false;
    const std::size_t total = end + 4 + length;
    if (in.size() < total) return true;  // the rest of the body is still on its way
    const std::string_view body = in.substr(end + 4, length);
    c->close_after = close;
    bool ok;
    if (method == "POST") {
      if (c->pid < 0 && !spawn_server(c)) {
        std::perror("floor_relay: posix_spawnp");
        return false;
      }
      const bool request = body.find("\"id\"") != std::string_view::npos;
      ok = queue_write(c->to_child, role::to_child, c, c->child_in, body, "\n");
      if (ok && request) {
        c->waiting = true;
        c->initialize = body.find("\"initialize\"") != std::string_view::npos;
      } else if (ok) {
        ok = respond(c, "202 Accepted", {}, false);
      }
    } else if (method == "DELETE") {
      ok = respond(c, "200 OK", {}, false);
    } else {
      ok = respond(c, "405 Method Not Allowed", {}, false);
    }
    c->in.erase(0, total);
    if (!ok) return false;
  }
  return !(c->close_after && !c->waiting && c->out.empty());
}

void on_socket(conn* c, std::uint32_t events) {
  if (events & EPOLLOUT) {
    const ssize_t n = ::write(c->sock, c->out.data(), c->out.size());
    if (n < 0 && errno != EAGAIN) return close_conn(c);
    if (n > 0) c->out.erase(0, static_cast<std::size_t>(n));
    if (c->out.empty()) watch(c->sock, role::socket, c, EPOLLIN, EPOLL_CTL_MOD);
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    const std::size_t have = c->in.size();
    c->in.resize(have + read_chunk);
    const ssize_t n = ::read(c->sock, c->in.data() + have, read_chunk);
    c->in.resize(have + (n > 0 ? static_cast<std::size_t>(n) : 0));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return close_conn(c);
  }
  if (!handle(c)) close_conn(c);
}

void on_from_child(conn* c) {
  const std::size_t have = c->child_out.size();
  c->child_out.resize(have + read_chunk);
  const ssize_t n = ::read(c->from_child, c->child_out.data() + have, read_chunk);
  c->child_out.resize(have + (n > 0 ? static_cast<std::size_t>(n) : 0));
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return close_conn(c);  // it died
  for (std::size_t nl; c->waiting && (nl = c->child_out.find('\n')) != std::string::npos;) {
    c->waiting = false;
    const bool ok = respond(c, "200 OK", std::string_view(c->child_out).substr(0, nl), true);
    c->child_out.erase(0, nl + 1);
    if (!ok || !handle(c)) return close_conn(c);
  }
  if (!c->waiting) {  // whole lines nobody asked for (server-initiated): dropped
    const auto nl = c->child_out.rfind('\n');
    if (nl != std::string::npos) c->child_out.erase(0, nl + 1);
  }
}

void on_to_child(conn* c) {
  const ssize_t n = ::write(c->to_child, c->child_in.data(), c->child_in.size());
  if (n < 0 && errno != EAGAIN) return close_conn(c);
  if (n > 0) c->child_in.erase(0, static_cast<std::size_t>(n));
  if (c->child_in.empty()) watch(c->to_child, role::to_child, c, 0, EPOLL_CTL_MOD);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      port = static_cast<unsigned short>(std::atoi(argv[++i]));
    } else if (a == "--") {
      ++i;
      break;
    } else {
      i = argc;
    }
  }
  for (; i < argc; ++i) server_argv.emplace_back(argv[i]);
  if (server_argv.empty()) {
    std::fputs("usage: floor_relay [--port P] -- SERVER [ARGS...]\n", stderr);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGCHLD, SIG_IGN);  // the kernel reaps the servers

  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(lfd, 1024) != 0 ||
      ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    std::perror("floor_relay: listen");
    return 1;
  }
  epfd = ::epoll_create1(EPOLL_CLOEXEC);
  watch(lfd, role::listener, nullptr, EPOLLIN);
  std::printf("http://127.0.0.1:%u/mcp\n", ntohs(sa.sin_port));
  std::fflush(stdout);

  epoll_event events[256];
  for (;;) {
    const int n = ::epoll_wait(epfd, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::perror("floor_relay: epoll_wait");
      return 1;
    }
    for (int k = 0; k < n; ++k) {
      const int fd = static_cast<int>(events[k].data.u64 >> 2);
      const auto r = static_cast<role>(events[k].data.u64 & 3);
      if (r == role::listener) {
        for (int s; (s = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto c = std::make_unique<conn>();
          c->sock = s;
          watch(s, role::socket, c.get(), EPOLLIN);
          conns[s] = std::move(c);
        }
        continue;
      }
      // An earlier event of this batch may have closed the connection, and its
      // descriptor been reused since: skip what no longer matches.
      conn* c = static_cast<std::size_t>(fd) < owner.size() ? owner[static_cast<std::size_t>(fd)]
                                                            : nullptr;
      if (c == nullptr || fd != (r == role::socket     ? c->sock
                                 : r == role::to_child ? c->to_child
                                                       : c->from_child))
        continue;
      switch (r) {
        case role::socket: on_socket(c, events[k].events); break;
        case role::from_child: on_from_child(c); break;
        case role::to_child: on_to_child(c); break;
        case role::listener: break;
      }
    }
  }
}
