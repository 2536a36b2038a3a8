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

constexpr const char* usage_head =
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
    "options (docs/options.md has the full list with the modes each applies to):\n";

constexpr const char* usage_tail =
    "\n"
    "SIGUSR1 prints a table of the sessions on stderr; SIGINT/SIGTERM shut down.\n"
    "Logs go to stderr, never stdout: mcpfwd's own lines start with 'mcpfwd: ',\n"
    "the server's stderr lines are relayed prefixed with 'server: '.\n"
    "Exit status: 0 when the client ended the session (EOF, SIGINT, SIGTERM);\n"
    "the server's exit status when it exited first (1 if that was 0, 128+N if\n"
    "killed by signal N); 2 for a usage error; 70 when mcpfwd itself failed.\n";

// Flags of the CLI alone; every other flag comes from the options table.
struct cli_flag {
  const char* flag;
  const char* metavar;
  const char* help;
};
constexpr cli_flag cli_first[] = {
    {"--stdio", "", "serve one client on stdin/stdout (single-session mode)"},
};
constexpr cli_flag cli_last[] = {
    {"--auth-token-env", "VAR",
     "HTTP: require 'Authorization: Bearer $VAR' on every request (VAR is removed from the "
     "spawned servers' environment)"},
    {"--upstream-header-env", "N=VAR",
     "send header N with the value of $VAR upstream (repeatable; VAR is removed from the "
     "spawned servers' environment)"},
    {"--version", "", "print the version and exit"},
    {"-h, --help", "", "print this help and exit"},
};

void print_row(std::string left, std::string_view help);
void cli_row(const cli_flag& f) {
  print_row(std::string(f.flag) + (*f.metavar ? " " : "") + f.metavar, f.help);
}

// "  --flag METAVAR   help...", the help wrapped at 79 columns.
void print_row(std::string left, std::string_view help) {
  constexpr std::size_t indent = 32, width = 79;
  left = "  " + left;
  if (left.size() < indent)
    left.append(indent - left.size(), ' ');
  else
    left += "\n" + std::string(indent, ' ');
  std::string line = left;
  std::size_t col = indent;
  while (!help.empty()) {
    std::size_t n = help.find(' ');
    const std::string_view word = help.substr(0, n);
    if (col > indent && col + 1 + word.size() > width) {
      line += "\n" + std::string(indent, ' ');
      col = indent;
    } else if (col > indent) {
      line += ' ';
      ++col;
    }
    line += word;
    col += word.size();
    help = n == std::string_view::npos ? std::string_view() : help.substr(n + 1);
  }
  std::printf("%s\n", line.c_str());
}

void print_usage() {
  std::fputs(usage_head, stdout);
  for (const auto& f : cli_first) cli_row(f);
  for (const mcpfwd_option* o = mcpfwd_option_next(nullptr); o; o = mcpfwd_option_next(o)) {
    const std::string flag = mcpfwd_option_cli_flag(o);
    if (flag.empty()) continue;
    const std::string metavar = mcpfwd_option_metavar(o);
    std::string help = mcpfwd_option_help(o);
    const std::string def = mcpfwd_option_default(o);
    const auto type = mcpfwd_option_get_type(o);
    if (type == MCPFWD_OPTION_CHOICE) {
      std::string c = mcpfwd_option_choices(o);
      for (auto& ch : c)
        if (ch == '|') ch = ',';
      help += " (" + c + ")";
    }
    if (!def.empty() && type != MCPFWD_OPTION_FLAG && type != MCPFWD_OPTION_LIST)
      help += " [default " + def + "]";
    print_row(flag + (metavar.empty() ? "" : " " + metavar), help);
  }
  for (const auto& f : cli_last) cli_row(f);
  std::fputs(usage_tail, stdout);
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "mcpfwd: error: %s\n(try mcpfwd --help)\n", msg.c_str());
  return 2;
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

// A value the options table refused: its message names the option.
int set_failed(const char* what, mcpfwd_status st) {
  if (st == MCPFWD_E_INVALID_ARG) return usage_error(mcpfwd_last_error());
  return fail(what, st);
}

struct config_deleter {
  void operator()(mcpfwd_config* c) const { mcpfwd_config_free(c); }
};
struct proxy_deleter {
  void operator()(mcpfwd_proxy* p) const { mcpfwd_proxy_free(p); }
};

}  // namespace

int main(int argc, char** argv) {
  mcpfwd_config* raw_cfg = nullptr;
  mcpfwd_status st = mcpfwd_config_new(&raw_cfg);
  if (st != MCPFWD_OK) return fail("config", st);
  std::unique_ptr<mcpfwd_config, config_deleter> cfg(raw_cfg);

  bool stdio = false, listen = false;
  std::vector<const char*> server;
  // The secrets named on the command line are read once and leave our
  // environment at once (no thread runs yet): no server spawned later can
  // inherit them or read them from /proc/<our pid>/environ. The core also
  // withholds the token from every child, wherever it comes from.
  std::map<std::string, std::optional<std::string>> taken;
  auto secret = [&](const std::string& var) -> const std::optional<std::string>& {
    auto it = taken.find(var);
    if (it == taken.end()) it = taken.emplace(var, take_secret_env(var)).first;
    return it->second;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) server.push_back(argv[i]);
      break;
    }
    if (a == "--version") {
      std::printf("mcpfwd %s\n", mcpfwd_version_string());
      return 0;
    }
    if (a == "-h" || a == "--help") {
      print_usage();
      return 0;
    }
    if (a == "--stdio") {
      stdio = true;
      continue;
    }
    // --flag VALUE or --flag=VALUE
    std::string flag(a), inline_value;
    bool has_inline = false;
    if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
      has_inline = true;
    }
    auto value = [&]() -> const char* {
      if (has_inline) return inline_value.c_str();
      return i + 1 < argc ? argv[++i] : nullptr;
    };
    if (flag == "--auth-token-env" || flag == "--upstream-header-env") {
      const char* v = value();
      std::string_view spec = v ? v : "";
      std::string name, var(spec);
      if (flag == "--upstream-header-env") {
        const auto eq = spec.find('=');
        if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size())
          return usage_error("--upstream-header-env needs NAME=VARIABLE");
        name = std::string(spec.substr(0, eq));
        var = std::string(spec.substr(eq + 1));
      } else if (var.empty()) {
        return usage_error("--auth-token-env needs a variable name");
      }
      const std::optional<std::string>& got = secret(var);
      if (!got || got->empty()) return usage_error(flag + ": $" + var + " is empty or unset");
      const std::string opt = name.empty() ? "auth-token" : "upstream-header";
      const std::string val = name.empty() ? *got : name + ": " + *got;
      if ((st = mcpfwd_config_set(cfg.get(), opt.c_str(), val.c_str())) != MCPFWD_OK)
        return set_failed(flag.c_str(), st);
      continue;
    }
    const mcpfwd_option* opt = nullptr;
    if (flag.starts_with("--")) {
      opt = mcpfwd_option_find(flag.c_str() + 2);
      if (opt && flag != mcpfwd_option_cli_flag(opt)) opt = nullptr;
    }
    if (!opt) return usage_error("unknown option '" + std::string(a) + "'");
    const char* v = "true";
    if (mcpfwd_option_get_type(opt) != MCPFWD_OPTION_FLAG || has_inline) {
      v = value();
      if (!v) return usage_error(flag + " needs a value (" + mcpfwd_option_metavar(opt) + ")");
    }
    if ((st = mcpfwd_config_set(cfg.get(), mcpfwd_option_name(opt), v)) != MCPFWD_OK)
      return set_failed(flag.c_str(), st);
    if (flag == "--listen") listen = true;
  }
  if (stdio == listen) return usage_error("choose one mode: --stdio or --listen HOST:PORT");
  if (stdio && (st = mcpfwd_config_set_downstream_stdio(cfg.get(), 0, 1)) != MCPFWD_OK)
    return fail("stdio", st);
  if (!server.empty() && (st = mcpfwd_config_set_upstream_command(cfg.get(), server.size(),
                                                                  server.data())) != MCPFWD_OK)
    return fail("server command", st);

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

  mcpfwd_proxy* raw_proxy = nullptr;
  if ((st = mcpfwd_proxy_new(&raw_proxy, cfg.get())) != MCPFWD_OK) return fail("proxy", st);
  std::unique_ptr<mcpfwd_proxy, proxy_deleter> proxy(raw_proxy);
  cfg.reset();
  if ((st = mcpfwd_proxy_start(proxy.get())) != MCPFWD_OK) return fail("start", st);
  if (listen) {  // the URL is the one line on stdout: scripts read it
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
