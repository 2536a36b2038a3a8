// loadgen — load generator for mcpfwd's Streamable HTTP mode, and the same
// load straight over stdio (--direct) for the baseline. See docs/benchmarks.md.
//
// Phases, each run to completion by the io_context's threads:
//   open      per session: connect (HTTP) or spawn (direct), initialize,
//             notifications/initialized, then --warmup unmeasured calls
//   measure   per session: --calls sequential tools/call echo requests,
//             each with its own token s<session>-c<i>, timed and checked
//   finish    per session: DELETE (HTTP) or close stdin and reap (direct)
// With --era modern (the stateless era, 2026-07-28) the open phase has no
// initialize: a client connects (or spawns its server) and every request
// carries the era's _meta envelope (and, over HTTP, its routing headers).
// With --idle-sessions K the measure phase is replaced by a report (with the
// open phase's duration, open_s) and a hold, which SIGUSR1 ends early.
// With --abandon-sessions N there are no phases: N sessions are started over
// time (--rate per second, --open-concurrency at once), each opened, making
// --calls checked calls (and every --stream-every-th opening its GET stream),
// then left without a DELETE: their connections closed, the session for the
// proxy's idle reaper to end.
// A watchdog ends everything (exit 3) past --max-seconds.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "loadgen.hpp"

namespace loadgen {

namespace {

constexpr const char* usage_text =
    "usage: loadgen --url http://127.0.0.1:PORT/mcp [options]\n"
    "       loadgen --direct [options] -- SERVER_COMMAND [ARGS...]\n"
    "\n"
    "options:\n"
    "  --sessions S           concurrent sessions (default 1)\n"
    "  --calls N              measured tools/call echo requests per session (default 1000)\n"
    "  --warmup K             unmeasured calls per session before measuring (default 100)\n"
    "  --threads T            io_context threads (default 1)\n"
    "  --era session|modern   session: initialize, then calls in the session (default);\n"
    "                         modern: 2026-07-28, no initialize, each call enveloped\n"
    "                         (params._meta) and, over HTTP, with the routing headers\n"
    "  --client-header NAME   modern, HTTP: send header NAME: <client number> (0, 1, ...)\n"
    "  --open-concurrency C   sessions opened at once (default: all)\n"
    "  --idle-sessions K      open K sessions, print the report, make no calls ...\n"
    "  --hold-seconds H       ... and keep them open H seconds before ending them\n"
    "                         (SIGUSR1 ends the hold early)\n"
    "  --abandon-sessions N   start N sessions over time, each making --calls checked calls,\n"
    "                         then closing its connection without a DELETE (HTTP only;\n"
    "                         --open-concurrency defaults to 32 here)\n"
    "  --rate R               ... starting R sessions per second (default 0: no pacing)\n"
    "  --stream-every K       ... every K-th session opens its GET stream before leaving\n"
    "  --cpu-pid PID          also report PID's CPU time (utime+stime) per measured call\n"
    "  --max-seconds X        abort (exit 3) when the whole run takes longer (default 60)\n"
    "  --latency-out FILE     write every measured latency (ns, session by session) to FILE\n"
    "\n"
    "Prints one JSON object on stdout. Exit status: 0 all answers correct; 1 errors or\n"
    "mismatched answers; 2 usage; 3 timed out.\n";

const std::string initialize_body =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
    R"("capabilities":{},"clientInfo":{"name":"mcpfwd-loadgen","version":"1.0.0"}}})";
const std::string initialized_body = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
// The stateless era's envelope, in every request's params (as the MCP Python SDK 2.x sends it).
constexpr const char* modern_meta =
    R"("_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
    R"("io.modelcontextprotocol/clientCapabilities":{},)"
    R"("io.modelcontextprotocol/clientInfo":{"name":"mcpfwd-loadgen","version":"1.0.0"}})";

struct session_stats {
  std::vector<std::int64_t> lat_ns;  // measured calls, in order
  std::int64_t create_ns = -1;       // start + initialize round trip
  std::int64_t next_id = 2;
  long attempted = 0, answered = 0, errors = 0, mismatches = 0;
  bool open = false;
  std::string first_problem;
  void problem(const std::string& what) {
    if (first_problem.empty()) first_problem = what;
  }
};

// ------------------------------------------------------------------ options

template <class T>
bool number(std::string_view s, T& out) {
  if constexpr (std::is_floating_point_v<T>) {
    char* end = nullptr;
    const std::string z(s);
    out = static_cast<T>(std::strtod(z.c_str(), &end));
    return !z.empty() && end == z.c_str() + z.size() && std::isfinite(out) && out >= 0;
  } else {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out >= 0;
  }
}

bool parse_url(options& o, std::string& err) {
  std::string_view u = o.url;
  if (!u.starts_with("http://")) {
    err = "--url must start with http://";
    return false;
  }
  u.remove_prefix(7);
  const auto slash = u.find('/');
  std::string_view authority = u.substr(0, slash);
  o.target = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  std::string_view host, port = "80";
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      err = "--url: bad IPv6 address";
      return false;
    }
    host = authority.substr(1, close - 1);
    if (authority.size() > close + 1 && authority[close + 1] == ':')
      port = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  unsigned p = 0;
  if (!number(port, p) || p == 0 || p > 65535) {
    err = "--url: bad port";
    return false;
  }
  o.host = std::string(host);
  o.port = std::string(port);
  // Loopback only: this tool generates load and must not aim it elsewhere.
  boost::system::error_code ec;
  const auto addr = net::ip::make_address(o.host == "localhost" ? "127.0.0.1" : o.host, ec);
  if (ec || !addr.is_loopback()) {
    err = "--url: the host must be a loopback address (127.0.0.1, ::1 or localhost)";
    return false;
  }
  return true;
}

bool parse_args(int argc, char** argv, options& o, std::string& err) {
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string_view { return i + 1 < argc ? argv[++i] : ""; };
    bool ok = true;
    if (a == "--") {
      for (++i; i < argc; ++i) o.command.emplace_back(argv[i]);
    } else if (a == "--direct") {
      o.direct = true;
    } else if (a == "--url") {
      o.url = std::string(value());
      have_url = true;
    } else if (a == "--sessions") {
      ok = number(value(), o.sessions) && o.sessions > 0;
    } else if (a == "--calls") {
      ok = number(value(), o.calls);
    } else if (a == "--warmup") {
      ok = number(value(), o.warmup);
    } else if (a == "--threads") {
      ok = number(value(), o.threads) && o.threads > 0 && o.threads <= 64;
    } else if (a == "--open-concurrency") {
      ok = number(value(), o.open_concurrency);
    } else if (a == "--idle-sessions") {
      ok = number(value(), o.idle_sessions) && o.idle_sessions > 0;
    } else if (a == "--hold-seconds") {
      ok = number(value(), o.hold_seconds);
    } else if (a == "--abandon-sessions") {
      ok = number(value(), o.abandon_sessions) && o.abandon_sessions > 0;
    } else if (a == "--rate") {
      ok = number(value(), o.rate);
    } else if (a == "--stream-every") {
      ok = number(value(), o.stream_every);
    } else if (a == "--era") {
      const std::string_view e = value();
      ok = e == "session" || e == "modern";
      o.modern = e == "modern";
    } else if (a == "--client-header") {
      o.client_header = std::string(value());
      ok = !o.client_header.empty() &&
           o.client_header.find_first_of(" :\r\n\t") == std::string::npos;
    } else if (a == "--cpu-pid") {
      ok = number(value(), o.cpu_pid) && o.cpu_pid > 0;
    } else if (a == "--latency-out") {
      o.latency_out = std::string(value());
      ok = !o.latency_out.empty();
    } else if (a == "--max-seconds") {
      ok = number(value(), o.max_seconds) && o.max_seconds > 0 && o.max_seconds <= 3600;
    } else if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    } else {
      err = "unknown option '" + std::string(a) + "'";
      return false;
    }
    if (!ok) {
      err = std::string(a) + " needs a valid value";
      return false;
    }
  }
  if (o.modern && (o.idle_sessions > 0 || o.abandon_sessions > 0)) {
    err = "--idle-sessions and --abandon-sessions open sessions: not with --era modern";
    return false;
  }
  if (!o.client_header.empty() && (!o.modern || o.direct)) {
    err = "--client-header is for --era modern over HTTP";
    return false;
  }
  if (o.direct) {
    if (o.command.empty()) {
      err = "--direct needs '-- SERVER_COMMAND...'";
      return false;
    }
    if (o.idle_sessions > 0 || o.abandon_sessions > 0) {
      err = "--idle-sessions and --abandon-sessions measure the proxy: not with --direct";
      return false;
    }
    return true;
  }
  if (o.idle_sessions > 0 && o.abandon_sessions > 0) {
    err = "--idle-sessions and --abandon-sessions are separate runs";
    return false;
  }
  if (!o.command.empty()) {
    err = "a server command is only for --direct";
    return false;
  }
  if (!have_url) {
    err = "give --url or --direct";
    return false;
  }
  if (o.hold_seconds >= o.max_seconds) {
    err = "--hold-seconds must be below --max-seconds";
    return false;
  }
  return parse_url(o, err);
}

// ------------------------------------------------------------------ sessions

std::string call_body(std::int64_t id, std::string_view token, bool modern) {
  std::string b;
  b.reserve(modern ? 320 : 128);
  b += R"({"jsonrpc":"2.0","id":)";
  b += std::to_string(id);
  b += R"(,"method":"tools/call","params":{"name":"echo","arguments":{"text":")";
  b += token;
  b += R"("})";
  if (modern) {
    b += ',';
    b += modern_meta;
  }
  b += "}}";
  return b;
}

net::awaitable<void> open_session(client& c, session_stats& st, bool modern) {
  std::string err, answer;
  const auto t0 = clock::now();
  if (modern) {  // no handshake: connecting (or spawning) is all there is
    if (!co_await c.start(err)) {
      ++st.errors;
      st.problem("open: " + err);
      co_return;
    }
    st.create_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count();
    st.open = true;
    co_return;
  }
  if (!co_await c.start(err) || !co_await c.request(initialize_body, answer, err)) {
    ++st.errors;
    st.problem("open: " + err);
    co_return;
  }
  st.create_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count();
  if (!check_initialize(answer, err) || !co_await c.notify(initialized_body, err)) {
    ++st.errors;
    st.problem("open: " + err);
    co_return;
  }
  st.open = true;
}

// n sequential echo calls; measured ones are timed and use tokens s<S>-c<i>.
net::awaitable<void> run_calls(client& c, session_stats& st, int session, long n, bool measured,
                               bool modern) {
  std::string body, answer, err, token;
  const std::string prefix = "s" + std::to_string(session) + (measured ? "-c" : "-w");
  if (measured) st.lat_ns.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    token = prefix + std::to_string(i);
    const std::int64_t id = st.next_id++;
    body = call_body(id, token, modern);
    if (measured) ++st.attempted;
    const auto t0 = clock::now();
    const bool ok = co_await c.request(body, answer, err);
    const auto t1 = clock::now();
    if (!ok) {  // the transport is broken: the rest of this session's calls fail too
      const long lost = measured ? n - i : 0;
      st.errors += std::max(lost, 1L);
      st.attempted += lost > 0 ? lost - 1 : 0;
      st.problem(token + ": " + err);
      co_return;
    }
    if (measured) st.lat_ns.push_back(std::chrono::nanoseconds(t1 - t0).count());
    switch (check_echo(answer, id, token, err)) {
      case verdict::ok:
        if (measured) ++st.answered;
        break;
      case verdict::mismatch:
        ++st.mismatches;
        st.problem(token + ": " + err);
        break;
      case verdict::error:
        ++st.errors;
        st.problem(token + ": " + err);
        break;
    }
  }
}

// ------------------------------------------------------------------ measuring

double cpu_seconds_of(int pid) {  // utime + stime from /proc/PID/stat; < 0 if unreadable
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(s.substr(rp + 2));  // field 3 (state) onwards
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int k = 3; k <= 15 && in >> field; ++k) {
    if (k == 14) utime = std::stoull(field);
    if (k == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

double percentile_us(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// ------------------------------------------------------------------ the run

// SIGUSR1 ends an --idle-sessions hold early (the sessions are then ended as usual).
volatile std::sig_atomic_t hold_released = 0;
extern "C" void release_hold(int) {
  hold_released = 1;
}

class runner {
 public:
  explicit runner(const options& o) : o_(o) {}

  int run() {
    if (o_.abandon_sessions > 0) return run_abandon();
    const bool idle = o_.idle_sessions > 0;
    const int n = idle ? o_.idle_sessions : o_.sessions;
    stats_.resize(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      strands_.push_back(net::make_strand(ioc_));
      clients_.push_back(o_.direct ? make_direct_client(strands_.back(), o_)
                                   : make_http_client(strands_.back(), o_, i));
    }

    // open (+ warmup)
    const int workers = o_.open_concurrency > 0 ? std::min(o_.open_concurrency, n) : n;
    std::atomic<int> next{0};
    const long warmup = idle ? 0 : o_.warmup;
    const auto open0 = clock::now();
    phase([&] {
      for (int w = 0; w < workers; ++w) {
        net::co_spawn(
            net::make_strand(ioc_),
            [&]() -> net::awaitable<void> {
              for (int i; (i = next.fetch_add(1)) < n;) {
                auto& st = stats_[static_cast<std::size_t>(i)];
                co_await open_session(*clients_[static_cast<std::size_t>(i)], st, o_.modern);
                if (st.open && warmup > 0)
                  co_await run_calls(*clients_[static_cast<std::size_t>(i)], st, i, warmup, false,
                                     o_.modern);
              }
            },
            on_exception(nullptr));
      }
    });

    double elapsed = 0, cpu_pid = 0, cpu_self = 0;
    if (idle) {
      const double open_s = std::chrono::duration<double>(clock::now() - open0).count();
      report(0, -1, -1, ",\"open_s\":" + std::to_string(open_s));
      const auto hold_until = clock::now() + std::chrono::duration<double>(o_.hold_seconds);
      while (clock::now() < hold_until && hold_released == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      const double pid0 = o_.cpu_pid ? cpu_seconds_of(o_.cpu_pid) : -1;
      const double self0 = own_cpu_seconds();
      const auto t0 = clock::now();
      phase([&] {
        for (int i = 0; i < n; ++i) {
          auto& st = stats_[static_cast<std::size_t>(i)];
          if (!st.open) continue;
          net::co_spawn(
              strands_[static_cast<std::size_t>(i)],
              run_calls(*clients_[static_cast<std::size_t>(i)], st, i, o_.calls, true, o_.modern),
              on_exception(&st));
        }
      });
      elapsed = std::chrono::duration<double>(clock::now() - t0).count();
      cpu_self = own_cpu_seconds() - self0;
      cpu_pid = o_.cpu_pid ? cpu_seconds_of(o_.cpu_pid) - pid0 : -1;
      if (o_.cpu_pid && pid0 < 0) cpu_pid = -1;
      report(elapsed, cpu_pid, cpu_self);
    }

    // finish
    phase([&] {
      for (int i = 0; i < n; ++i)
        net::co_spawn(strands_[static_cast<std::size_t>(i)],
                      clients_[static_cast<std::size_t>(i)]->finish(), on_exception(nullptr));
    });
    clients_.clear();
    return failed() ? 1 : 0;
  }

  // --abandon-sessions: sessions started on a schedule (session i at
  // i / --rate seconds), at most --open-concurrency at a time, each left open.
  int run_abandon() {
    const int n = o_.abandon_sessions;
    stats_.resize(static_cast<std::size_t>(n));
    const int workers = std::min(o_.open_concurrency > 0 ? o_.open_concurrency : 32, n);
    std::atomic<int> next{0};
    std::atomic<long> streams{0};
    const auto t0 = clock::now();
    const double self0 = own_cpu_seconds();
    phase([&] {
      for (int w = 0; w < workers; ++w) {
        net::co_spawn(
            net::make_strand(ioc_),
            [&]() -> net::awaitable<void> {
              const auto ex = co_await net::this_coro::executor;
              net::steady_timer pace(ex);
              for (int i; (i = next.fetch_add(1)) < n;) {
                if (o_.rate > 0) {
                  pace.expires_at(t0 + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(i / o_.rate)));
                  co_await pace.async_wait(net::use_awaitable);
                }
                auto& st = stats_[static_cast<std::size_t>(i)];
                auto c = make_http_client(ex, o_, i);
                co_await open_session(*c, st, false);
                if (st.open) co_await run_calls(*c, st, i, o_.calls, true, false);
                if (st.open && o_.stream_every > 0 && i % o_.stream_every == 0) {
                  std::string err;
                  if (co_await c->open_stream(err)) {
                    ++streams;
                  } else {
                    ++st.errors;
                    st.problem("session " + std::to_string(i) + ": " + err);
                  }
                }
                c->abandon();
              }
            },
            on_exception(nullptr));
      }
    });
    const double elapsed = std::chrono::duration<double>(clock::now() - t0).count();
    long opened = 0;
    for (const auto& st : stats_) opened += st.open ? 1 : 0;
    report(elapsed, -1, own_cpu_seconds() - self0,
           ",\"abandoned\":" + std::to_string(opened) +
               ",\"streams_opened\":" + std::to_string(streams.load()) +
               ",\"sessions_per_s\":" + std::to_string(elapsed > 0 ? n / elapsed : 0.0));
    return failed() ? 1 : 0;
  }

 private:
  std::function<void(std::exception_ptr)> on_exception(session_stats* st) {
    return [st](std::exception_ptr e) {
      if (!e) return;
      std::string what = "exception";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what = x.what();
      } catch (...) {
      }
      std::fprintf(stderr, "loadgen: %s\n", what.c_str());
      if (st != nullptr) {
        ++st->errors;
        st->problem(what);
      }
    };
  }

  bool failed() const {
    long bad = 0;
    for (const auto& st : stats_) bad += st.errors + st.mismatches;
    return bad > 0;
  }

  template <class Spawn>
  void phase(Spawn spawn) {
    ioc_.restart();
    spawn();
    std::vector<std::thread> threads;
    for (int t = 0; t < o_.threads; ++t) threads.emplace_back([this] { ioc_.run(); });
    for (auto& t : threads) t.join();
  }

  void report(double elapsed, double cpu_pid, double cpu_self, const std::string& extra = {}) {
    if (!o_.latency_out.empty()) {
      std::ofstream f(o_.latency_out);
      for (const auto& st : stats_)
        for (auto ns : st.lat_ns) f << ns << '\n';
    }
    std::vector<std::int64_t> lat, create;
    long attempted = 0, answered_ok = 0, errors = 0, mismatches = 0, opened = 0;
    std::string problem;
    for (const auto& st : stats_) {
      lat.insert(lat.end(), st.lat_ns.begin(), st.lat_ns.end());
      if (st.create_ns >= 0) create.push_back(st.create_ns);
      attempted += st.attempted;
      answered_ok += st.answered;
      errors += st.errors;
      mismatches += st.mismatches;
      opened += st.open ? 1 : 0;
      if (problem.empty()) problem = st.first_problem;
    }
    std::sort(lat.begin(), lat.end());
    std::sort(create.begin(), create.end());
    const double answered = static_cast<double>(lat.size());
    const char* mode = o_.idle_sessions > 0      ? "idle"
                       : o_.abandon_sessions > 0 ? "abandon"
                       : o_.direct               ? "direct"
                                                 : "http";
    std::printf(
        "{\"mode\":\"%s\",\"era\":\"%s\",\"sessions\":%zu,\"calls\":%ld,\"total_requests\":%ld,",
        mode, o_.modern ? "modern" : "session", stats_.size(), o_.idle_sessions > 0 ? 0L : o_.calls,
        attempted);
    std::printf("\"answered_ok\":%ld,", answered_ok);
    std::printf("\"elapsed_s\":%.3f,\"rps\":%.0f,", elapsed,
                elapsed > 0 ? answered / elapsed : 0.0);
    std::printf("\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,",
                percentile_us(lat, 50), percentile_us(lat, 90), percentile_us(lat, 99),
                lat.empty() ? 0.0 : static_cast<double>(lat.back()) / 1000.0);
    std::printf("\"errors\":%ld,\"mismatches\":%ld,", errors, mismatches);
    std::printf("\"session_create_p50_us\":%.1f,\"session_create_p99_us\":%.1f,",
                percentile_us(create, 50), percentile_us(create, 99));
    std::printf("\"call_body_bytes\":%zu,", call_body(2, "s0-c0", o_.modern).size());
    std::printf("\"sessions_opened\":%ld,\"warmup\":%ld,\"threads\":%d", opened,
                o_.idle_sessions > 0 || o_.abandon_sessions > 0 ? 0L : o_.warmup, o_.threads);
    std::fputs(extra.c_str(), stdout);
    if (answered > 0 && cpu_self >= 0)
      std::printf(",\"loadgen_cpu_us_per_call\":%.1f", cpu_self * 1e6 / answered);
    if (o_.cpu_pid) {
      if (answered > 0 && cpu_pid >= 0)
        std::printf(",\"pid_cpu_us_per_call\":%.1f,\"pid_cpu_s\":%.2f", cpu_pid * 1e6 / answered,
                    cpu_pid);
      else
        std::printf(",\"pid_cpu_us_per_call\":null");
    }
    if (!problem.empty()) std::printf(",\"first_problem\":%s", json_string(problem).c_str());
    std::printf("}\n");
    std::fflush(stdout);
  }

  const options& o_;
  net::io_context ioc_;
  std::vector<net::strand<net::io_context::executor_type>> strands_;
  std::vector<session_stats> stats_;
  std::vector<std::unique_ptr<client>> clients_;  // after ioc_: destroyed first
};

}  // namespace

}  // namespace loadgen

int main(int argc, char** argv) {
  using namespace loadgen;
  options o;
  std::string err;
  if (!parse_args(argc, argv, o, err)) {
    std::fprintf(stderr, "loadgen: error: %s\n\n%s", err.c_str(), usage_text);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGUSR1, release_hold);
  // Many sessions mean many connections (and, direct, pipes): raise the soft
  // descriptor limit to the hard one, as mcpfwd does.
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  // The hard bound on the whole run.
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock lk(m);
    if (cv.wait_for(lk, std::chrono::duration<double>(o.max_seconds), [&] { return done; })) return;
    std::fprintf(stderr, "loadgen: still running after --max-seconds %g: aborting\n",
                 o.max_seconds);
    kill_children();
    std::printf("{\"mode\":\"%s\",\"error\":\"timed out\"}\n", o.direct                 ? "direct"
                                                               : o.abandon_sessions > 0 ? "abandon"
                                                                                        : "http");
    std::fflush(stdout);
    std::_Exit(3);
  });

  int rc = 0;
  try {
    runner r(o);
    rc = r.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: error: %s\n", e.what());
    rc = 1;
  }
  {
    std::lock_guard lk(m);
    done = true;
  }
  cv.notify_one();
  watchdog.join();
  return rc;
}
