// mcpfwd — the command-line front end. A client of the C ABI like any other,
// through the C++ layer of mcpfwd.hpp.
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
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mcpfwd/mcpfwd.hpp"

namespace {

constexpr const char* usage_head =
    "usage: mcpfwd --stdio [options] -- SERVER_COMMAND [ARGS...]\n"
    "       mcpfwd --listen HOST:PORT [options] -- SERVER_COMMAND [ARGS...]\n"
    "       mcpfwd --stdio|--listen HOST:PORT [options] --upstream URL\n"
    "       mcpfwd --config FILE [options] [-- SERVER_COMMAND [ARGS...]]\n"
    "\n"
    "Forward the Model Context Protocol between MCP clients and an MCP server:\n"
    "one client on stdin/stdout (--stdio), or many clients over Streamable HTTP at\n"
    "http://HOST:PORT/mcp and legacy HTTP+SSE at /sse (--listen; port 0 picks one;\n"
    "the URL is printed on stdout, then the admin listener's with --admin). Each\n"
    "session gets its own upstream: its own\n"
    "SERVER_COMMAND process (spawned without a shell), or its own session on the\n"
    "remote server at URL (Streamable HTTP or HTTP+SSE, over pooled keep-alive\n"
    "connections, TLS verified against the system store).\n"
    "\n"
    "options (docs/options.md has the full list with the modes each applies to):\n";

constexpr const char* usage_tail =
    "\n"
    "SIGUSR1 prints a table of the sessions on stderr (with --log-format json, one\n"
    "JSON line with the sessions); SIGINT/SIGTERM shut down. With --config, SIGHUP\n"
    "reloads the file in HTTP mode (new sessions use it; docs/configuration.md), else\n"
    "it shuts down.\n"
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
    {"--admin-token-env", "VAR",
     "HTTP: require 'Authorization: Bearer $VAR' on the admin listener's /metrics and /sessions "
     "(VAR is removed from the spawned servers' environment)"},
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
  for (const mcpfwd::cxx::option& o : mcpfwd::cxx::options()) {
    const std::string flag(o.cli_flag());
    if (flag.empty()) continue;
    const std::string metavar(o.metavar());
    std::string help(o.help());
    const std::string def(o.default_value());
    if (o.type() == MCPFWD_OPTION_CHOICE) {
      std::string c(o.choices());
      for (auto& ch : c)
        if (ch == '|') ch = ',';
      help += " (" + c + ")";
    }
    if (!def.empty() && o.type() != MCPFWD_OPTION_FLAG && o.type() != MCPFWD_OPTION_LIST)
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

int fail(const char* what, const mcpfwd::cxx::error& e) {
  std::fprintf(stderr, "mcpfwd: error: %s: %s (%s)\n", what, e.what(),
               mcpfwd_status_str(e.status()));
  return e.status() == MCPFWD_E_INVALID_ARG ? 2 : 70;
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
int set_failed(const char* what, const mcpfwd::cxx::error& e) {
  if (e.status() == MCPFWD_E_INVALID_ARG) return usage_error(e.what());
  return fail(what, e);
}

// Runs f; an error becomes fail(what, ...)'s exit status.
template <class F>
std::optional<int> attempt(const char* what, F&& f) {
  try {
    f();
    return std::nullopt;
  } catch (const mcpfwd::cxx::error& e) {
    return fail(what, e);
  }
}

// The SIGUSR1 table as one JSON log line (--log-format json): the sessions
// as mcpfwd_proxy_sessions_json gives them.
std::string status_json_line(const mcpfwd::cxx::proxy& proxy) {
  const std::string sessions = proxy.sessions_json();
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char when[40];
  const std::size_t n = std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return std::string(R"({"time":")") + std::string(when, n) +
         R"(","level":"info","source":"mcpfwd","event":"status","msg":"session table",)" +
         R"("fields":{"sessions":)" + sessions + "}}\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<mcpfwd::cxx::config> cfg;
  if (auto failed = attempt("config", [&] { cfg.emplace(); })) return *failed;
  // Sets an option; a refused value is a usage error naming it.
  auto set = [&](const std::string& flag, std::string_view name,
                 std::string_view value) -> std::optional<int> {
    try {
      cfg->set(name, value);
      return std::nullopt;
    } catch (const mcpfwd::cxx::error& e) {
      return set_failed(flag.c_str(), e);
    }
  };

  bool stdio = false, listen = false, json_logs = false, config_file = false;
  std::vector<std::string> server;
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
      for (++i; i < argc; ++i) server.emplace_back(argv[i]);
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
    if (flag == "--auth-token-env" || flag == "--admin-token-env" ||
        flag == "--upstream-header-env") {
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
        return usage_error(flag + " needs a variable name");
      }
      const std::optional<std::string>& got = secret(var);
      if (!got || got->empty()) return usage_error(flag + ": $" + var + " is empty or unset");
      const char* opt = !name.empty()                 ? "upstream-header"
                        : flag == "--admin-token-env" ? "admin-token"
                                                      : "auth-token";
      const std::string val = name.empty() ? *got : name + ": " + *got;
      if (auto failed = set(flag, opt, val)) return *failed;
      continue;
    }
    std::optional<mcpfwd::cxx::option> opt;
    if (flag.starts_with("--")) {
      opt = mcpfwd::cxx::option::find(std::string_view(flag).substr(2));
      if (opt && flag != opt->cli_flag()) opt.reset();
    }
    if (!opt) return usage_error("unknown option '" + std::string(a) + "'");
    const char* v = "true";
    if (opt->type() != MCPFWD_OPTION_FLAG || has_inline) {
      v = value();
      if (!v) return usage_error(flag + " needs a value (" + std::string(opt->metavar()) + ")");
    }
    if (auto failed = set(flag, opt->name(), v)) return *failed;
    if (flag == "--listen") listen = true;
    if (flag == "--config") config_file = true;
    if (flag == "--log-format") json_logs = std::string_view(v) == "json";
  }
  // A config file may choose the mode itself ("listen"); the core says when neither does.
  if (stdio == listen && !(config_file && !stdio))
    return usage_error("choose one mode: --stdio or --listen HOST:PORT");
  if (stdio)
    if (auto failed = attempt("stdio", [&] { cfg->set_downstream_stdio(0, 1); })) return *failed;
  if (!server.empty())
    if (auto failed = attempt("server command", [&] { cfg->set_upstream_command(server); }))
      return *failed;

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

  mcpfwd::cxx::proxy proxy;
  if (auto failed = attempt("proxy", [&] { proxy = mcpfwd::cxx::proxy(*cfg); })) return *failed;
  cfg.reset();
  if (auto failed = attempt("start", [&] { proxy.start(); })) return *failed;
  if (listen || config_file) {  // the URL is the first line on stdout: scripts read it
    try {
      if (const std::string url = proxy.url(); !url.empty()) std::printf("%s\n", url.c_str());
      // The admin listener's, when there is one, on the second line.
      if (const std::string admin = proxy.admin_url(); !admin.empty())
        std::printf("%s\n", admin.c_str());
      std::fflush(stdout);
    } catch (const mcpfwd::cxx::error&) {
    }
  }

  std::atomic<bool> done{false};
  std::thread signals([&] {
    const timespec tick{0, 100 * 1000 * 1000};
    while (!done.load()) {
      int sig = sigtimedwait(&sigs, nullptr, &tick);
      try {
        if (sig == SIGUSR1 && json_logs)
          std::fputs(status_json_line(proxy).c_str(), stderr);
        else if (sig == SIGUSR1)
          std::fputs(proxy.status_text().c_str(), stderr);
        else if (sig == SIGHUP && config_file && !stdio)
          proxy.reload();  // logs how it went; a bad file keeps the running config
        else if (sig > 0)
          proxy.stop();  // graceful: same path as client EOF
      } catch (const mcpfwd::cxx::error&) {
      }
    }
  });
  std::optional<int> code;
  auto failed = attempt("wait", [&] { code = proxy.wait(); });
  done = true;
  signals.join();
  if (failed) return *failed;
  proxy.reset();
  return code.value_or(0);
}
