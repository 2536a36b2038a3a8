// mcpfwd — the command-line front end. A client of the C ABI like any other.
//
//   mcpfwd --stdio|--listen HOST:PORT [options] -- SERVER_COMMAND [ARGS...]
//   mcpfwd --stdio|--listen HOST:PORT [options] --upstream URL
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mcpfwd/mcpfwd.h"

namespace {

constexpr const char* usage_text =
    "usage: mcpfwd --stdio [options] -- SERVER_COMMAND [ARGS...]\n"
    "       mcpfwd --listen HOST:PORT [options] -- SERVER_COMMAND [ARGS...]\n"
    "       mcpfwd --stdio|--listen HOST:PORT [options] --upstream URL\n"
    "\n"
    "Forward the Model Context Protocol between MCP clients and an MCP server:\n"
    "one client on stdin/stdout (--stdio), or many clients over Streamable HTTP at\n"
    "http://HOST:PORT/mcp and legacy HTTP+SSE at /sse (--listen; port 0 picks one;\n"
    "the URL is printed on stdout). Each session gets its own upstream: its own\n"
    "SERVER_COMMAND process (spawned without a shell), or its own session on the\n"
    "remote server at URL (Streamable HTTP or HTTP+SSE, over pooled keep-alive\n"
    "connections, TLS verified against the system store).\n"
    "\n"
    "options:\n"
    "  --stdio                    serve one client on stdin/stdout (single-session mode)\n"
    "  --listen HOST:PORT         serve Streamable HTTP (bind 127.0.0.1 unless you mean it)\n"
    "  --max-sessions N           HTTP: most sessions at once (default 1000)\n"
    "  --idle-timeout-ms N        HTTP: close sessions idle this long (default 1800000)\n"
    "  --request-timeout-ms N     HTTP: answer with an error after N ms (default 0: never)\n"
    "  --drain-timeout-ms N       HTTP: at shutdown, wait this long for requests in flight\n"
    "                             (default 5000)\n"
    "  --allow-origin ORIGIN      HTTP: allow this Origin (repeatable; default: localhost)\n"
    "  --auth-token-env VAR       HTTP: require 'Authorization: Bearer $VAR' on every request\n"
    "  --io-threads N             HTTP: I/O threads (default: one per core)\n"
    "  --max-message-bytes N      largest JSON-RPC message accepted (default 4194304)\n"
    "  --env NAME=VALUE           set NAME in the spawned server's environment (repeatable)\n"
    "  --unset-env NAME           remove NAME from it (repeatable)\n"
    "  --clear-env                start the server's environment empty\n"
    "  --cwd DIR                  the server's working directory\n"
    "  --upstream URL             the upstream is the remote MCP server at URL\n"
    "  --upstream-transport T     auto, streamable-http or sse (default auto: POST, and\n"
    "                             fall back to HTTP+SSE on 400/404/405)\n"
    "  --upstream-header 'N: V'   send this header upstream (repeatable)\n"
    "  --upstream-header-env N=VAR  send header N with the value of $VAR (repeatable)\n"
    "  --forward-authorization    pass each client's Authorization header upstream\n"
    "                             (default: never)\n"
    "  --upstream-ca-file PATH    verify the upstream's certificate with these CAs\n"
    "  --upstream-insecure        do not verify the upstream's certificate (warns)\n"
    "  --upstream-pool-max N      keep-alive connections per upstream origin (default 128,\n"
    "                             at least 2)\n"
    "  --upstream-connect-timeout-ms N  TCP + TLS connect (default 10000)\n"
    "  --upstream-timeout-ms N    wait this long for an answer to start (default 120000)\n"
    "  --shutdown-grace-ms N      wait this long after closing the server's stdin, and\n"
    "                             again after SIGTERM, before SIGKILL (default 2000)\n"
    "  --log-level LEVEL          trace, debug, info, warn, error or off (default info)\n"
    "  --version                  print the version and exit\n"
    "  -h, --help                 print this help and exit\n"
    "\n"
    "SIGUSR1 prints a table of the sessions on stderr; SIGINT/SIGTERM shut down.\n"
    "Logs go to stderr, never stdout: mcpfwd's own lines start with 'mcpfwd: ',\n"
    "the server's stderr lines are relayed prefixed with 'server: '.\n"
    "Exit status: 0 when the client ended the session (EOF, SIGINT, SIGTERM);\n"
    "the server's exit status when it exited first (1 if that was 0, 128+N if\n"
    "killed by signal N); 2 for a usage error; 70 when mcpfwd itself failed.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "mcpfwd: error: %s\n(try mcpfwd --help)\n", msg.c_str());
  return 2;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

int fail(const char* what, mcpfwd_status st) {
  std::fprintf(stderr, "mcpfwd: error: %s: %s (%s)\n", what, mcpfwd_last_error(),
               mcpfwd_status_str(st));
  return st == MCPFWD_E_INVALID_ARG ? 2 : 70;
}

// Takes a secret out of mcpfwd's environment: returns its value and removes
// the variable, so no server mcpfwd spawns inherits it, after blanking its
// bytes in place, so it is not left in the initial environment block that
// /proc/<pid>/environ shows to every process of the same user (a server
// could read its parent's). Call before any thread starts (unsetenv is not
// thread-safe); an empty optional when unset.
std::optional<std::string> take_secret_env(const std::string& name) {
  std::optional<std::string> value;
  for (char** e = environ; e && *e; ++e) {
    char* kv = *e;
    if (std::strncmp(kv, name.c_str(), name.size()) != 0 || kv[name.size()] != '=') continue;
    char* v = kv + name.size() + 1;
    if (!value) value = std::string(v);
    std::memset(v, 0, std::strlen(v));
  }
  ::unsetenv(name.c_str());
  return value;
}

struct config_deleter {
  void operator()(mcpfwd_config* c) const { mcpfwd_config_free(c); }
};
struct proxy_deleter {
  void operator()(mcpfwd_proxy* p) const { mcpfwd_proxy_free(p); }
};

}  // namespace

int main(int argc, char** argv) {
  bool stdio = false;
  std::vector<const char*> server;
  size_t max_bytes = 0;
  uint32_t grace_ms = 0;
  bool have_max = false, have_grace = false;
  mcpfwd_log_level level = MCPFWD_LOG_INFO;
  std::string listen_host;
  uint16_t listen_port = 0;
  bool have_listen = false;
  uint32_t max_sessions = 0, idle_ms = 0, request_ms = 0, io_threads = 0, drain_ms = 0;
  bool have_max_sessions = false, have_idle = false, have_request = false, have_threads = false,
       have_drain = false;
  std::vector<const char*> origins;
  const char* token_env = nullptr;
  const char* upstream_url = nullptr;
  const char* ca_file = nullptr;
  int transport = -1;
  bool forward_auth = false, insecure = false;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::size_t, std::string>> header_envs;  // index in headers, variable
  std::vector<std::pair<std::string, const char*>> env_changes;  // value nullptr: unset
  bool clear_env = false;
  const char* cwd = nullptr;
  uint32_t pool_max = 0, connect_ms = 0, upstream_ms = 0;
  bool have_pool = false, have_connect = false, have_upstream_ms = false;

  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view name) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)name;
      return argv[++i];
    };
    if (a == "--") {
      for (++i; i < argc; ++i) server.push_back(argv[i]);
      break;
    } else if (a == "--stdio") {
      stdio = true;
    } else if (a == "--listen") {
      const char* v = value(a);
      std::string_view hp = v ? v : "";
      auto colon = hp.rfind(':');
      if (colon == std::string_view::npos || !parse_number(hp.substr(colon + 1), listen_port))
        return usage_error("--listen needs HOST:PORT, e.g. 127.0.0.1:8931");
      listen_host = std::string(hp.substr(0, colon));
      if (listen_host.size() > 2 && listen_host.front() == '[' && listen_host.back() == ']')
        listen_host = listen_host.substr(1, listen_host.size() - 2);
      have_listen = true;
    } else if (a == "--max-sessions" || a == "--idle-timeout-ms" || a == "--request-timeout-ms" ||
               a == "--drain-timeout-ms" || a == "--io-threads") {
      const char* v = value(a);
      uint32_t n = 0;
      if (!v || !parse_number(std::string_view(v), n))
        return usage_error(std::string(a) + " needs a number");
      if (a == "--max-sessions") max_sessions = n, have_max_sessions = true;
      if (a == "--idle-timeout-ms") idle_ms = n, have_idle = true;
      if (a == "--request-timeout-ms") request_ms = n, have_request = true;
      if (a == "--io-threads") io_threads = n, have_threads = true;
      if (a == "--drain-timeout-ms") drain_ms = n, have_drain = true;
    } else if (a == "--upstream") {
      upstream_url = value(a);
      if (!upstream_url) return usage_error("--upstream needs a URL");
    } else if (a == "--upstream-transport") {
      const char* v = value(a);
      std::string_view t = v ? v : "";
      if (t == "auto")
        transport = MCPFWD_UPSTREAM_AUTO;
      else if (t == "streamable-http")
        transport = MCPFWD_UPSTREAM_STREAMABLE_HTTP;
      else if (t == "sse")
        transport = MCPFWD_UPSTREAM_SSE;
      else
        return usage_error("--upstream-transport must be auto, streamable-http or sse");
    } else if (a == "--upstream-header") {
      const char* v = value(a);
      std::string_view h = v ? v : "";
      auto colon = h.find(':');
      if (colon == std::string_view::npos || colon == 0)
        return usage_error("--upstream-header needs 'Name: value'");
      std::string_view val = h.substr(colon + 1);
      while (!val.empty() && (val.front() == ' ' || val.front() == '\t')) val.remove_prefix(1);
      headers.emplace_back(std::string(h.substr(0, colon)), std::string(val));
    } else if (a == "--upstream-header-env") {
      const char* v = value(a);
      std::string_view h = v ? v : "";
      auto eq = h.find('=');
      if (eq == std::string_view::npos || eq == 0 || eq + 1 == h.size())
        return usage_error("--upstream-header-env needs NAME=VARIABLE");
      header_envs.emplace_back(headers.size(), std::string(h.substr(eq + 1)));
      headers.emplace_back(std::string(h.substr(0, eq)), std::string());  // value: below
    } else if (a == "--env") {
      const char* v = value(a);
      const char* eq = v ? std::strchr(v, '=') : nullptr;
      if (!eq || eq == v) return usage_error("--env needs NAME=VALUE");
      env_changes.emplace_back(std::string(v, eq), eq + 1);
    } else if (a == "--unset-env") {
      const char* v = value(a);
      if (!v || !*v || std::strchr(v, '=')) return usage_error("--unset-env needs a NAME");
      env_changes.emplace_back(v, nullptr);
    } else if (a == "--clear-env") {
      clear_env = true;
    } else if (a == "--cwd") {
      cwd = value(a);
      if (!cwd || !*cwd) return usage_error("--cwd needs a directory");
    } else if (a == "--forward-authorization") {
      forward_auth = true;
    } else if (a == "--upstream-insecure") {
      insecure = true;
    } else if (a == "--upstream-ca-file") {
      ca_file = value(a);
      if (!ca_file) return usage_error("--upstream-ca-file needs a path");
    } else if (a == "--upstream-pool-max" || a == "--upstream-connect-timeout-ms" ||
               a == "--upstream-timeout-ms") {
      const char* v = value(a);
      uint32_t n = 0;
      if (!v || !parse_number(std::string_view(v), n))
        return usage_error(std::string(a) + " needs a number");
      if (a == "--upstream-pool-max") pool_max = n, have_pool = true;
      if (a == "--upstream-connect-timeout-ms") connect_ms = n, have_connect = true;
      if (a == "--upstream-timeout-ms") upstream_ms = n, have_upstream_ms = true;
    } else if (a == "--allow-origin") {
      const char* v = value(a);
      if (!v) return usage_error("--allow-origin needs an origin");
      origins.push_back(v);
    } else if (a == "--auth-token-env") {
      token_env = value(a);
      if (!token_env) return usage_error("--auth-token-env needs a variable name");
    } else if (a == "--max-message-bytes") {
      const char* v = value(a);
      if (!v || !parse_number(v, max_bytes))
        return usage_error("--max-message-bytes needs a number");
      have_max = true;
    } else if (a == "--shutdown-grace-ms") {
      const char* v = value(a);
      if (!v || !parse_number(v, grace_ms))
        return usage_error("--shutdown-grace-ms needs a number");
      have_grace = true;
    } else if (a == "--log-level") {
      const char* v = value(a);
      static constexpr const char* names[] = {"trace", "debug", "info", "warn", "error", "off"};
      bool found = false;
      for (int l = 0; v && l < 6; ++l) {
        if (std::strcmp(v, names[l]) == 0) {
          level = static_cast<mcpfwd_log_level>(l);
          found = true;
        }
      }
      if (!found) return usage_error("--log-level must be trace, debug, info, warn, error or off");
    } else if (a == "--version") {
      std::printf("mcpfwd %s\n", mcpfwd_version_string());
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      return 0;
    } else {
      return usage_error("unknown option '" + std::string(a) + "'");
    }
  }
  if (stdio == have_listen) return usage_error("choose one mode: --stdio or --listen HOST:PORT");

  // The secrets named on the command line are read now, once, and leave our
  // environment before anything else happens (no thread runs yet): no server
  // spawned later can inherit them or read them from /proc/<our pid>/environ.
  // The core also withholds the token from every child, wherever it comes from.
  std::map<std::string, std::optional<std::string>> taken;
  auto secret = [&](const std::string& var) -> const std::optional<std::string>& {
    auto it = taken.find(var);
    if (it == taken.end()) it = taken.emplace(var, take_secret_env(var)).first;
    return it->second;
  };
  std::optional<std::string> token;
  if (token_env) token = secret(token_env);
  for (const auto& [index, var] : header_envs) {
    const std::optional<std::string>& val = secret(var);
    if (!val || val->empty())
      return usage_error("--upstream-header-env: $" + var + " is empty or unset");
    headers[index].second = *val;
  }

  const bool upstream_opts = transport >= 0 || !headers.empty() || forward_auth || insecure ||
                             ca_file || have_pool || have_connect || have_upstream_ms;
  if (upstream_opts && !upstream_url)
    return usage_error("the --upstream-* options and --forward-authorization need --upstream URL");
  if ((clear_env || cwd || !env_changes.empty()) && server.empty())
    return usage_error("--env, --unset-env, --clear-env and --cwd need a server command");
  if (server.empty() && !upstream_url)
    return usage_error("give the server command after '--', or --upstream URL");
  if (!server.empty() && upstream_url)
    return usage_error("choose one upstream: a server command after '--' or --upstream URL");

  // A host that goes away must not kill us with SIGPIPE: writes fail instead.
  std::signal(SIGPIPE, SIG_IGN);
  // SIGINT/SIGTERM are taken synchronously by one thread; blocking them
  // before the proxy starts its threads makes those threads inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGUSR1);  // print the session table on stderr
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  mcpfwd_config* raw_cfg = nullptr;
  mcpfwd_status st = mcpfwd_config_new(&raw_cfg);
  if (st != MCPFWD_OK) return fail("config", st);
  std::unique_ptr<mcpfwd_config, config_deleter> cfg(raw_cfg);
  if (stdio && (st = mcpfwd_config_set_downstream_stdio(cfg.get(), 0, 1)) != MCPFWD_OK)
    return fail("stdio", st);
  if (have_listen) {
    if ((st = mcpfwd_config_set_listen(cfg.get(), listen_host.c_str(), listen_port)) != MCPFWD_OK)
      return fail("--listen", st);
    if (have_max_sessions &&
        (st = mcpfwd_config_set_max_sessions(cfg.get(), max_sessions)) != MCPFWD_OK)
      return fail("--max-sessions", st);
    if (have_idle && (st = mcpfwd_config_set_idle_timeout_ms(cfg.get(), idle_ms)) != MCPFWD_OK)
      return fail("--idle-timeout-ms", st);
    if (have_request &&
        (st = mcpfwd_config_set_request_timeout_ms(cfg.get(), request_ms)) != MCPFWD_OK)
      return fail("--request-timeout-ms", st);
    if (have_drain && (st = mcpfwd_config_set_drain_timeout_ms(cfg.get(), drain_ms)) != MCPFWD_OK)
      return fail("--drain-timeout-ms", st);
    if (have_threads && (st = mcpfwd_config_set_io_threads(cfg.get(), io_threads)) != MCPFWD_OK)
      return fail("--io-threads", st);
    for (const char* o : origins)
      if ((st = mcpfwd_config_add_allowed_origin(cfg.get(), o)) != MCPFWD_OK)
        return fail("--allow-origin", st);
    if (token_env) {
      if (!token || token->empty())
        return usage_error(std::string("--auth-token-env: $") + token_env + " is empty or unset");
      if ((st = mcpfwd_config_set_auth_token(cfg.get(), token->c_str())) != MCPFWD_OK)
        return fail("--auth-token-env", st);
    }
  }
  if (upstream_url) {
    if ((st = mcpfwd_config_set_upstream_url(cfg.get(), upstream_url)) != MCPFWD_OK)
      return fail("--upstream", st);
    if (transport >= 0 &&
        (st = mcpfwd_config_set_upstream_transport(
             cfg.get(), static_cast<mcpfwd_upstream_transport>(transport))) != MCPFWD_OK)
      return fail("--upstream-transport", st);
    for (const auto& [k, v] : headers)
      if ((st = mcpfwd_config_add_upstream_header(cfg.get(), k.c_str(), v.c_str())) != MCPFWD_OK)
        return fail("--upstream-header", st);
    if ((st = mcpfwd_config_set_forward_authorization(cfg.get(), forward_auth)) != MCPFWD_OK)
      return fail("--forward-authorization", st);
    if ((st = mcpfwd_config_set_upstream_insecure(cfg.get(), insecure)) != MCPFWD_OK)
      return fail("--upstream-insecure", st);
    if (ca_file && (st = mcpfwd_config_set_upstream_ca_file(cfg.get(), ca_file)) != MCPFWD_OK)
      return fail("--upstream-ca-file", st);
    if (have_pool && (st = mcpfwd_config_set_upstream_pool_max(cfg.get(), pool_max)) != MCPFWD_OK)
      return fail("--upstream-pool-max", st);
    if (have_connect &&
        (st = mcpfwd_config_set_upstream_connect_timeout_ms(cfg.get(), connect_ms)) != MCPFWD_OK)
      return fail("--upstream-connect-timeout-ms", st);
    if (have_upstream_ms &&
        (st = mcpfwd_config_set_upstream_timeout_ms(cfg.get(), upstream_ms)) != MCPFWD_OK)
      return fail("--upstream-timeout-ms", st);
  } else {
    if ((st = mcpfwd_config_set_upstream_command(cfg.get(), server.size(), server.data())) !=
        MCPFWD_OK)
      return fail("server command", st);
    if (clear_env && (st = mcpfwd_config_clear_upstream_env(cfg.get())) != MCPFWD_OK)
      return fail("--clear-env", st);
    for (const auto& [name, val] : env_changes)
      if ((st = mcpfwd_config_set_upstream_env(cfg.get(), name.c_str(), val)) != MCPFWD_OK)
        return fail(val ? "--env" : "--unset-env", st);
    if (cwd && (st = mcpfwd_config_set_upstream_cwd(cfg.get(), cwd)) != MCPFWD_OK)
      return fail("--cwd", st);
  }
  if (have_max && (st = mcpfwd_config_set_max_message_bytes(cfg.get(), max_bytes)) != MCPFWD_OK)
    return fail("--max-message-bytes", st);
  if (have_grace && (st = mcpfwd_config_set_shutdown_grace_ms(cfg.get(), grace_ms)) != MCPFWD_OK)
    return fail("--shutdown-grace-ms", st);
  if ((st = mcpfwd_config_set_log_level(cfg.get(), level)) != MCPFWD_OK)
    return fail("--log-level", st);

  mcpfwd_proxy* raw_proxy = nullptr;
  if ((st = mcpfwd_proxy_new(&raw_proxy, cfg.get())) != MCPFWD_OK) return fail("proxy", st);
  std::unique_ptr<mcpfwd_proxy, proxy_deleter> proxy(raw_proxy);
  cfg.reset();
  if ((st = mcpfwd_proxy_start(proxy.get())) != MCPFWD_OK) return fail("start", st);
  if (have_listen) {  // the URL is the one line on stdout: scripts read it
    char* url = nullptr;
    if (mcpfwd_proxy_url(proxy.get(), &url) == MCPFWD_OK) {
      std::printf("%s\n", url);
      std::fflush(stdout);
    }
    mcpfwd_string_free(url);
  }

  std::atomic<bool> done{false};
  std::thread signals([&] {
    const timespec tick{0, 100 * 1000 * 1000};
    while (!done.load()) {
      int sig = sigtimedwait(&sigs, nullptr, &tick);
      if (sig == SIGUSR1) {
        char* table = nullptr;
        if (mcpfwd_proxy_status_text(proxy.get(), &table) == MCPFWD_OK) std::fputs(table, stderr);
        mcpfwd_string_free(table);
      } else if (sig > 0) {
        mcpfwd_proxy_stop(proxy.get());  // graceful: same path as client EOF
      }
    }
  });
  int code = 0;
  st = mcpfwd_proxy_wait(proxy.get(), -1, &code);
  done = true;
  signals.join();
  if (st != MCPFWD_OK) return fail("wait", st);
  proxy.reset();
  return code;
}
