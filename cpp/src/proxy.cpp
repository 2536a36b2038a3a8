#include "proxy.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>

#include "base/errors.hpp"
#include "config/options.hpp"
#include "mcpfwd/mcpfwd_version.h"
#include "server/admin_server.hpp"
#include "server/http_server.hpp"
#include "server/metrics_text.hpp"
#include "server/upstream_site.hpp"
#include "session/stdio_session.hpp"
#include "upstream/bridge_to_modern.hpp"
#include "upstream/http_upstream.hpp"
#include "upstream/stdio_upstream.hpp"

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

// A proxy with many sessions holds several descriptors per session: raise
// the soft limit to the hard limit once, at start.
void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// The configuration with the config file's top level merged in (the file's
// named servers go to `servers`), or `cli` itself without a file.
proxy_config with_file(const proxy_config& cli, std::vector<named_server>& servers,
                       std::vector<std::string>& ignored) {
  if (cli.config_file.empty()) return cli;
  config_layout layout = load_config_file(cli);
  servers = std::move(layout.servers);
  ignored = std::move(layout.ignored);
  return std::move(layout.global);
}

bool has_command(const proxy_config& c) {
  return !c.upstream.argv.empty() && !c.upstream.argv[0].empty();
}

// One io_context run by every I/O thread, rather than one per thread: when
// sessions share connections (a remote upstream's pool) or may (a config
// file's named servers, which a reload can add, remote ones included).
bool single_context(const proxy_config& c) {
  return !c.remote.url.empty() || !c.config_file.empty();
}

}  // namespace

proxy::proxy(proxy_config cfg)
    : cli_(std::move(cfg)),
      cfg_(with_file(cli_, servers_, file_ignored_)),
      log_(cfg_.level, cfg_.log_sink, cfg_.log_output),
      ioc_(single_context(cfg_) ? BOOST_ASIO_CONCURRENCY_HINT_DEFAULT : 1) {
  validate(cfg_, !servers_.empty());
  if (!file_ignored_.empty()) log_.warn(ignored_keys_note(cfg_.config_file, file_ignored_));
  const bool has_cmd = has_command(cfg_);
  // The token guards the proxy: no server gets it, even when an embedder
  // read it from an environment the server would otherwise inherit.
  if (!cfg_.auth_token.empty()) cfg_.upstream.withheld_values.push_back(cfg_.auth_token);
  if (!cfg_.admin_token.empty()) cfg_.upstream.withheld_values.push_back(cfg_.admin_token);
  if (has_cmd || !cfg_.config_file.empty()) {  // a file's servers may be commands too
    strays_ = std::make_shared<group_killer>(cfg_.shutdown_grace, log_);
    cfg_.upstream.strays = strays_;
  }
  if (!cfg_.remote.url.empty()) {
    cfg_.remote.max_message_bytes = cfg_.max_message_bytes;
    client_ = std::make_shared<http_client>(ioc_.get_executor(), cfg_.remote, log_);
  }
}

// A session-era client may meet a server that serves only the stateless
// era: the upstream is wrapped in the bridge, which decides on the client's
// first message (docs/eras.md, "Bridging: legacy client, modern server").
std::unique_ptr<upstream> proxy::bridged(std::unique_ptr<upstream> up, const session_strand& strand,
                                         const std::string& prefix, upstream_era era) const {
  if (era == upstream_era::legacy) return up;
  return std::make_unique<bridge_to_modern>(strand, std::move(up), era, log_, prefix);
}

upstream_factory proxy::make_upstream_factory() {
  if (client_) {
    if (cfg_.remote.insecure)
      net::post(ioc_, [this] {
        log_.warn(
            "WARNING: TLS certificate verification of the upstream is DISABLED "
            "(insecure upstream option): anyone on the path can read and alter this "
            "traffic. Use a CA file instead.");
      });
    return [client = client_, this](const session_strand& strand,
                                    const std::string& prefix) -> std::unique_ptr<upstream> {
      return bridged(std::make_unique<http_upstream>(strand, client, log_, prefix), strand, prefix,
                     cfg_.era);
    };
  }
  return [this](const session_strand& strand,
                const std::string& log_prefix) -> std::unique_ptr<upstream> {
    try {
      std::optional<spawned_child> pre;
      if (pool_) pre = pool_->take();  // a process started ahead, if one is ready
      auto up = std::make_unique<stdio_upstream>(strand, cfg_.upstream, cfg_.max_message_bytes,
                                                 log_, log_prefix, std::move(pre));
      bump(metrics_.upstream_spawns);
      return bridged(std::move(up), strand, log_prefix, cfg_.era);
    } catch (...) {
      bump(metrics_.upstream_spawn_failures);
      throw;
    }
  };
}

proxy::~proxy() {
  stop();
  join();
  // The contexts' pending handlers may hold one another's executors, work
  // counted (a request on one I/O thread awaiting a session's coroutine on
  // another, a session watching a client connection of another thread): they
  // are all destroyed while every context still exists, before any context
  // is. Destroying a suspended coroutine queues the destruction of the one
  // that awaited it (through its executor), so this takes a pass per level
  // of nesting: mcpfwd nests at most three (connection, session, own request).
  for (int pass = 0; pass < 4; ++pass) {
    for (auto& ctx : more_ctx_) ctx->destroy_handlers();
    ioc_.destroy_handlers();
  }
}

void proxy::start() {
  {
    std::lock_guard lk(m_);
    if (started_) throw api_error(errc::state, "proxy already started");
  }
  if (!cfg_.listen_host.empty()) {
    start_http();
    return;
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

  // The session takes the descriptors, and closes them even if spawning fails.
  session_ = std::make_shared<stdio_session>(
      ioc_.get_executor(), make_upstream_factory(), in, out, cfg_, log_, metrics_,
      [this](int code, const std::string&) { finished(code); });
  {
    std::lock_guard lk(m_);
    started_ = true;
  }
  bump(metrics_.sessions_opened[static_cast<std::size_t>(session_kind::stdio)]);
  session_->start();
  run_threads(1);
}

void proxy::run_threads(unsigned n) {
  // Thread i runs context i; threads beyond the contexts (a remote upstream) run ioc_.
  work_.emplace_back(ioc_.get_executor());
  for (auto& ctx : more_ctx_) work_.emplace_back(ctx->get_executor());
  for (unsigned i = 0; i < n; ++i) {
    net::io_context& ctx = i >= 1 && i <= more_ctx_.size() ? *more_ctx_[i - 1] : ioc_;
    threads_.emplace_back([this, &ctx] {
      block_sigpipe();
      for (;;) {
        try {
          ctx.run();
          break;
        } catch (const std::exception& e) {
          log_.error(std::string("internal error on I/O thread: ") + e.what());
        }
      }
    });
  }
}

void proxy::start_http() {
  raise_fd_limit();
  if (cfg_.prespawn > 0 && has_command(cfg_))  // the default upstream's command
    pool_ = std::make_unique<spawn_pool>(cfg_.upstream, cfg_.prespawn, log_);
  const unsigned n =
      cfg_.io_threads ? cfg_.io_threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<net::io_context*> contexts{&ioc_};
  for (unsigned i = 1; i < n && !single_context(cfg_); ++i) {
    more_ctx_.push_back(std::make_unique<io_context_owned>(1));
    contexts.push_back(more_ctx_.back().get());
  }
  // Without a default upstream (only named servers), /mcp serves nothing.
  const bool has_default = has_command(cfg_) || !cfg_.remote.url.empty();
  auto srv = std::make_shared<http_server>(
      ioc_, cfg_, has_default ? make_upstream_factory() : upstream_factory{}, client_, log_,
      metrics_, std::move(contexts));
  if (!servers_.empty()) {
    auto table = std::make_shared<site_table>(*srv->sites());
    for (auto& s : servers_) table->named.emplace(s.name, build_site(s.name, std::move(s.cfg)));
    servers_.clear();
    srv->set_sites(std::move(table));
  }
  std::shared_ptr<admin_server> admin;
  if (!cfg_.admin_host.empty())
    admin =
        std::make_shared<admin_server>(ioc_, cfg_, log_, srv, [this] { return metrics_text(); });
  {
    std::lock_guard lk(m_);
    http_ = srv;
    admin_ = admin;
    started_ = true;
  }
  srv->start();
  if (admin) admin->start();
  // Logged from an I/O thread, as every log callback is.
  net::post(ioc_, [this, url = srv->url(), admin_url = admin ? admin->url() : std::string()] {
    log_.event(log_level::info, "listening", "listening on " + url, R"({"url":")" + url + "\"}");
    if (!admin_url.empty())
      log_.event(log_level::info, "admin_listening",
                 "admin listener on " + admin_url + " (/metrics, /healthz, /readyz, /sessions)",
                 R"({"url":")" + admin_url + "\"}");
  });
  run_threads(n);
}

void proxy::stop() noexcept {
  std::shared_ptr<stdio_session> s;
  std::shared_ptr<http_server> h;
  {
    std::lock_guard lk(m_);
    s = session_;
    h = http_;
  }
  if (s) s->stop();
  if (h) {
    try {
      // Once every session has finished, idle keep-alive connections are all
      // that is left: stop the io_context so the threads can be joined.
      h->shutdown([this] {
        finished(0);
        ioc_.stop();
        for (auto& ctx : more_ctx_) ctx->stop();
      });
    } catch (...) {
    }
  }
}

void proxy::finished(int code) {
  std::shared_ptr<admin_server> admin;
  {
    std::lock_guard lk(m_);
    admin = admin_;
  }
  if (admin) admin->close();
  if (client_) client_->shutdown();  // idle keep-alive connections
  std::vector<std::shared_ptr<http_client>> named;
  {
    std::lock_guard lk(m_);
    for (auto& w : site_clients_)
      if (auto c = w.lock()) named.push_back(std::move(c));
  }
  for (auto& c : named) c->shutdown();
  // Every session has ended: what is left of their servers' process groups
  // is killed now rather than after the grace (whose timers would keep the
  // io_context, and so the proxy, alive).
  if (strays_) strays_->kill_all();
  if (pool_) pool_->stop();  // the servers no session took
  {
    std::lock_guard lk(m_);
    done_ = true;
    exit_code_ = code;
  }
  cv_.notify_all();
  work_.clear();  // let run() return once the last handlers are done
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
    http_.reset();
    admin_.reset();
  }
  for (auto& t : pumps_)
    if (t.joinable()) t.join();
  pumps_.clear();
  // What is still queued for standard error, for a bounded time: a stderr
  // nobody reads must not keep the host from exiting.
  log_.close(std::chrono::seconds(1));
}

std::string proxy::admin_url() const {
  std::lock_guard lk(m_);
  return admin_ ? admin_->url() : std::string();
}

std::string proxy::metrics_text() const {
  std::shared_ptr<http_server> h;
  std::shared_ptr<stdio_session> one;
  {
    std::lock_guard lk(m_);
    h = http_;
    one = session_;
  }
  prom_text out;
  out.family("mcpfwd_build_info", "gauge", "Always 1; the version of mcpfwd as a label.");
  out.sample("mcpfwd_build_info", {{"version", MCPFWD_VERSION_STRING}}, std::uint64_t{1});
  if (h) h->write_metrics(out);
  if (one) {  // stdio mode: the one session's figures
    const session_counters& c = one->counters();
    out.family("mcpfwd_messages_total", "counter", "JSON-RPC messages forwarded, by direction.");
    out.sample("mcpfwd_messages_total", {{"direction", "client_to_server"}}, read(c.c2s_messages));
    out.sample("mcpfwd_messages_total", {{"direction", "server_to_client"}}, read(c.s2c_messages));
    out.family("mcpfwd_message_bytes_total", "counter",
               "Bytes of JSON-RPC messages forwarded, by direction.");
    out.sample("mcpfwd_message_bytes_total", {{"direction", "client_to_server"}},
               read(c.c2s_bytes));
    out.sample("mcpfwd_message_bytes_total", {{"direction", "server_to_client"}},
               read(c.s2c_bytes));
  }
  write_metrics(out, metrics_);
  // Every connection pool: the default upstream's and the named remote servers' (config
  // file), summed per origin (servers may share one).
  std::vector<std::shared_ptr<http_client>> clients;
  if (client_) clients.push_back(client_);
  {
    std::lock_guard lk(m_);
    for (const auto& w : site_clients_)
      if (auto c = w.lock()) clients.push_back(std::move(c));
  }
  if (!clients.empty()) {
    static constexpr const char* fields[] = {"open",    "idle",   "waiting", "max",
                                             "created", "reused", "waited",  "stale"};
    std::map<std::string, std::array<std::uint64_t, std::size(fields)>> pools;
    std::uint64_t stream_connections = 0;
    for (const auto& client : clients) {
      const json::object st = client->stats();
      stream_connections += st.at("stream_connections").to_number<std::uint64_t>();
      for (const auto& [origin, p] : st.at("pools").as_object()) {
        auto& sums = pools[std::string(origin)];
        for (std::size_t i = 0; i < std::size(fields); ++i)
          sums[i] += p.as_object().at(fields[i]).to_number<std::uint64_t>();
      }
    }
    auto each = [&](const char* name, const char* type, const char* help, std::size_t field) {
      out.family(name, type, help);
      for (const auto& [origin, sums] : pools)
        out.sample(name, {{"origin", std::string_view(origin)}}, sums[field]);
    };
    each("mcpfwd_upstream_pool_connections", "gauge",
         "Keep-alive connections open to an upstream origin (idle or busy).", 0);
    each("mcpfwd_upstream_pool_idle_connections", "gauge",
         "Keep-alive connections to an upstream origin waiting for a request.", 1);
    each("mcpfwd_upstream_pool_waiting", "gauge",
         "Requests waiting for a connection to an upstream origin.", 2);
    each("mcpfwd_upstream_pool_max_connections", "gauge",
         "The most connections per upstream origin (--upstream-pool-max).", 3);
    each("mcpfwd_upstream_pool_connections_created_total", "counter",
         "Connections opened to an upstream origin.", 4);
    each("mcpfwd_upstream_pool_connections_reused_total", "counter",
         "Requests that reused a pooled connection to an upstream origin.", 5);
    each("mcpfwd_upstream_pool_waits_total", "counter",
         "Requests that had to wait for a connection to an upstream origin.", 6);
    each("mcpfwd_upstream_pool_stale_total", "counter",
         "Pooled connections found closed by the upstream when reused.", 7);
    out.family("mcpfwd_upstream_stream_connections_total", "counter",
               "Connections opened for upstream event streams (outside the pool).");
    out.sample("mcpfwd_upstream_stream_connections_total", {}, stream_connections);
  }
  out.family("mcpfwd_log_lines_dropped_total", "counter",
             "Log lines standard error could not take in time.");
  out.sample("mcpfwd_log_lines_dropped_total", {}, log_.dropped());
  return out.take();
}

std::string proxy::url() const {
  std::lock_guard lk(m_);
  return http_ ? http_->url() : std::string();
}

std::string proxy::sessions_json() const {
  std::shared_ptr<http_server> h;
  {
    std::lock_guard lk(m_);
    h = http_;
  }
  return h ? h->sessions_json() : std::string("[]");
}

std::string proxy::session_json(const std::string& id) const {
  std::shared_ptr<http_server> h;
  {
    std::lock_guard lk(m_);
    h = http_;
  }
  return h ? h->session_json(id) : std::string();
}

bool proxy::close_session(const std::string& id) {
  std::shared_ptr<http_server> h;
  {
    std::lock_guard lk(m_);
    h = http_;
  }
  return h && h->close_session(id);
}

namespace {
std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}
std::string seconds_since_ms(std::int64_t then_ms) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return std::to_string(std::max<std::int64_t>(0, now - then_ms) / 1000) + "s";
}
}  // namespace

std::string proxy::status_text() const {
  std::shared_ptr<http_server> h;
  {
    std::lock_guard lk(m_);
    h = http_;
  }
  if (!h) return "stdio session: " + stats_json() + "\n";
  const json::value all = json::parse(h->sessions_json());
  std::string out = std::to_string(all.as_array().size()) + " session(s) at " + h->url() + ", " +
                    std::to_string(log_.dropped()) + " log lines dropped\n";
  out += pad("SESSION", 34) + pad("STATE", 10) + pad("PID", 9) + pad("AGE", 8) + pad("IDLE", 8) +
         pad("MSG IN", 9) + pad("MSG OUT", 9) + pad("IN FLIGHT", 11) + pad("STREAMS", 9) +
         pad("ERRORS", 8) + "KIND\n";
  for (const auto& v : all.as_array()) {
    const json::object& o = v.as_object();
    auto num = [&](const json::value& x) { return std::to_string(x.to_number<std::int64_t>()); };
    out += pad(std::string(o.at("id").as_string()), 34) +
           pad(std::string(o.at("state").as_string()), 10) +
           pad(o.at("upstream").as_object().contains("pid") ? num(o.at("upstream").at("pid"))
                                                            : std::string("http"),
               9) +
           pad(seconds_since_ms(o.at("created_ms").to_number<std::int64_t>()), 8) +
           pad(seconds_since_ms(o.at("last_activity_ms").to_number<std::int64_t>()), 8) +
           pad(num(o.at("client_to_server").at("messages")), 9) +
           pad(num(o.at("server_to_client").at("messages")), 9) + pad(num(o.at("in_flight")), 11) +
           pad(num(o.at("open_streams")), 9) + pad(num(o.at("errors")), 8) +
           std::string(o.at("kind").as_string()) +
           (o.at("key").is_string() ? " (key " + std::string(o.at("key").as_string()) + ")"
                                    : std::string()) +
           (o.at("server").is_string() ? " server " + std::string(o.at("server").as_string())
                                       : std::string()) +
           "\n";
  }
  return out;
}

std::string proxy::stats_json() const {
  {
    std::lock_guard lk(m_);
    if (http_) {
      json::object o;
      o["mode"] = "http";
      o["url"] = http_->url();
      o["sessions"] = http_->session_count();
      for (auto& [k, v] : http_->stats()) o[k] = v;
      if (client_) o["upstream_pool"] = client_->stats();
      if (const auto d = log_.dropped()) o["log_lines_dropped"] = d;
      return json::serialize(o);
    }
  }
  std::shared_ptr<stdio_session> s;
  {
    std::lock_guard lk(m_);
    s = session_;
  }
  if (!s)
    return cfg_.listen_host.empty() ? R"({"state":"new"})" : R"({"mode":"http","state":"new"})";
  const auto d = log_.dropped();
  if (d == 0) return s->stats_json();
  json::value v = json::parse(s->stats_json());
  v.as_object()["log_lines_dropped"] = d;
  return json::serialize(v);
}

}  // namespace mcpfwd

namespace mcpfwd {

std::shared_ptr<const upstream_site> proxy::build_site(std::string name, proxy_config c) {
  auto site = std::make_shared<upstream_site>();
  site->name = std::move(name);
  // As for the default upstream: no server gets the proxy's tokens.
  if (!c.auth_token.empty()) c.upstream.withheld_values.push_back(c.auth_token);
  if (!c.admin_token.empty()) c.upstream.withheld_values.push_back(c.admin_token);
  if (has_command(c)) c.upstream.strays = strays_;
  if (!c.remote.url.empty()) {
    c.remote.max_message_bytes = c.max_message_bytes;
    site->remote = std::make_shared<http_client>(ioc_.get_executor(), c.remote, log_);
    if (c.remote.insecure)
      log_.warn("WARNING: TLS certificate verification of server " + site->name +
                " is DISABLED (upstream-insecure): anyone on the path can read and alter this "
                "traffic. Use a CA file instead.");
    std::lock_guard lk(m_);
    std::erase_if(site_clients_, [](const auto& w) { return w.expired(); });
    site_clients_.push_back(site->remote);
  }
  site->cfg = std::move(c);
  // The factory reads its own site, which every session of it keeps alive.
  const upstream_site* self = site.get();
  if (site->remote) {
    site->make = [self, this](const session_strand& strand,
                              const std::string& prefix) -> std::unique_ptr<upstream> {
      return bridged(std::make_unique<http_upstream>(strand, self->remote, log_, prefix), strand,
                     prefix, self->cfg.era);
    };
  } else {
    site->make = [self, this](const session_strand& strand,
                              const std::string& prefix) -> std::unique_ptr<upstream> {
      try {
        auto up = std::make_unique<stdio_upstream>(strand, self->cfg.upstream,
                                                   self->cfg.max_message_bytes, log_, prefix);
        bump(metrics_.upstream_spawns);
        return bridged(std::move(up), strand, prefix, self->cfg.era);
      } catch (...) {
        bump(metrics_.upstream_spawn_failures);
        throw;
      }
    };
  }
  return site;
}

void proxy::reload() {
  std::lock_guard one(reload_m_);
  std::shared_ptr<http_server> h;
  {
    std::lock_guard lk(m_);
    h = http_;
  }
  if (cli_.config_file.empty())
    throw api_error(errc::state, "no config file to reload (option config)");
  if (!h) throw api_error(errc::state, "a reload needs a started proxy in HTTP mode");
  const std::string& file = cli_.config_file;
  try {
    config_layout next = load_config_file(cli_);
    auto table = std::make_shared<site_table>();
    if (has_command(next.global) || !next.global.remote.url.empty())
      table->fallback = build_site("", next.global);
    std::string names;
    for (auto& s : next.servers) {
      names += (names.empty() ? "" : ", ") + s.name;
      table->named.emplace(s.name, build_site(s.name, std::move(s.cfg)));
    }
    // The listener, the logs and the admin listener are set up once: a
    // change to their options waits for a restart (said, not silently dropped).
    std::string kept;
    for (const auto& o : options()) {
      if (per_server_option(o.name) || o.name == "upstream" || o.name == "config") continue;
      if (o.get(next.global) != o.get(cfg_))
        kept += (kept.empty() ? "" : ", ") + std::string(o.name);
    }
    h->set_sites(std::move(table));
    bump(metrics_.config_reloads_ok);
    if (!next.ignored.empty()) log_.warn(ignored_keys_note(file, next.ignored));
    json::array servers;
    for (const auto& s : next.servers) servers.emplace_back(s.name);
    log_.event(log_level::info, "config_reloaded",
               "reloaded " + file + ": " + std::to_string(next.servers.size()) + " server(s)" +
                   (names.empty() ? std::string() : " (" + names + ")") +
                   "; new sessions use it, open sessions keep theirs" +
                   (kept.empty() ? std::string()
                                 : "; changed proxy-wide options wait for a restart: " + kept),
               json::serialize(json::object{{"file", file}, {"servers", std::move(servers)}}));
  } catch (const std::exception& e) {
    bump(metrics_.config_reloads_failed);
    log_.event(log_level::error, "config_reload_failed",
               std::string("reload failed, keeping the running configuration: ") + e.what(),
               json::serialize(json::object{{"file", file}, {"error", e.what()}}));
    throw;
  }
}

}  // namespace mcpfwd
