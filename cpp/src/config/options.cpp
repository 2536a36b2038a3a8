#include "config/options.hpp"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

#include "base/errors.hpp"

namespace mcpfwd {

const char* to_string(upstream_era e) noexcept {
  switch (e) {
    case upstream_era::auto_detect: return "auto";
    case upstream_era::legacy: return "legacy";
    case upstream_era::modern: return "modern";
  }
  return "?";
}

namespace {

constexpr std::uint64_t u32max = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t size_max = std::numeric_limits<std::size_t>::max();

[[noreturn]] void bad(const option_spec& o, const std::string& why) {
  throw api_error(errc::invalid_arg, "--" + std::string(o.name) + " " + why);
}

std::uint64_t to_u64(std::string_view v) {
  std::uint64_t n = 0;
  std::from_chars(v.data(), v.data() + v.size(), n);
  return n;
}
std::chrono::milliseconds to_ms(std::string_view v) {
  return std::chrono::milliseconds(to_u64(v));
}
std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count());
}
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    if (!s.empty()) s += ',';
    s += x;
  }
  return s;
}
bool on(std::string_view v) {
  return v == "1";
}

// The forms of text values that rows check (option_spec::check).
const char* not_empty(std::string_view v) {
  return v.empty() ? "must not be empty" : nullptr;
}
const char* name_equals_value(std::string_view v) {
  const auto eq = v.find('=');
  return eq == std::string_view::npos || eq == 0 ? "needs NAME=VALUE" : nullptr;
}
const char* env_name(std::string_view v) {
  return v.empty() || v.find('=') != std::string_view::npos ? "needs a NAME" : nullptr;
}
const char* node_id_form(std::string_view v) {
  if (v.empty() || v.size() > 32) return "must be 1 to 32 characters";
  for (char ch : v)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_'))
      return "may hold only letters, digits, '-' and '_'";
  return nullptr;
}
const char* header_line(std::string_view v) {
  const auto colon = v.find(':');
  return colon == std::string_view::npos || colon == 0 ? "needs 'Name: value'" : nullptr;
}

// Members are reached through small captureless lambdas: one row, one option.
#define MCPFWD_NUM(field, cast)                                                        \
  [](proxy_config& c, std::string_view v) { c.field = static_cast<cast>(to_u64(v)); }, \
      [](const proxy_config& c) { return std::to_string(c.field); }
#define MCPFWD_MS(field)                                           \
  [](proxy_config& c, std::string_view v) { c.field = to_ms(v); }, \
      [](const proxy_config& c) { return ms_text(c.field); }
#define MCPFWD_TEXT(field)                                               \
  [](proxy_config& c, std::string_view v) { c.field = std::string(v); }, \
      [](const proxy_config& c) { return std::string(c.field); }
#define MCPFWD_LIST(field)                                              \
  [](proxy_config& c, std::string_view v) { c.field.emplace_back(v); }, \
      [](const proxy_config& c) { return join(c.field); }
#define MCPFWD_FLAG(field)                                      \
  [](proxy_config& c, std::string_view v) { c.field = on(v); }, \
      [](const proxy_config& c) { return std::string(c.field ? "true" : "false"); }

constexpr option_spec table[] = {
    // --- choosing the downstream and the upstream ---------------------------
    {"listen", option_type::address, "HOST:PORT", 0, 0, mode_all, "--listen", "",
     "serve Streamable HTTP at /mcp and HTTP+SSE at /sse (port 0 picks one)",
     [](proxy_config& c, std::string_view v) {
       const auto colon = v.rfind(':');
       std::string_view host = v.substr(0, colon);
       if (host.size() > 2 && host.front() == '[' && host.back() == ']')
         host = host.substr(1, host.size() - 2);
       c.listen_host = std::string(host);
       c.listen_port = static_cast<std::uint16_t>(to_u64(v.substr(colon + 1)));
     },
     [](const proxy_config& c) {
       if (c.listen_host.empty()) return std::string();
       const bool v6 = c.listen_host.find(':') != std::string::npos;
       return (v6 ? "[" + c.listen_host + "]" : c.listen_host) + ":" +
              std::to_string(c.listen_port);
     }},
    {"upstream", option_type::text, "URL", 0, 0, mode_all, "--upstream", "",
     "the upstream is the remote MCP server at URL (Streamable HTTP or HTTP+SSE)",
     MCPFWD_TEXT(remote.url)},
    {"config", option_type::text, "PATH", 0, 0, mode_all, "--config", "",
     "read options, the default upstream and named servers (/servers/NAME/mcp) from this JSON "
     "file (docs/configuration.md); command-line options win; SIGHUP reloads it",
     MCPFWD_TEXT(config_file), not_empty},

    // --- every mode ---------------------------------------------------------
    {"max-message-bytes", option_type::bytes, "N", 64, size_max, mode_all, "--max-message-bytes",
     "", "largest JSON-RPC message accepted either way",
     MCPFWD_NUM(max_message_bytes, std::size_t)},
    {"max-batch", option_type::integer, "N", 1, 65536, mode_all, "--max-batch", "",
     "most messages in one JSON-RPC batch (protocol 2025-03-26)",
     MCPFWD_NUM(max_batch, std::size_t)},
    {"shutdown-grace-ms", option_type::duration_ms, "MS", 0, u32max, mode_all,
     "--shutdown-grace-ms", "",
     "wait this long after closing the server's stdin, and again after SIGTERM, before SIGKILL",
     MCPFWD_MS(shutdown_grace)},
    {"log-level", option_type::choice, "LEVEL", 0, 0, mode_all, "--log-level",
     "trace|debug|info|warn|error|off", "the least severe log lines written",
     [](proxy_config& c, std::string_view v) { parse_log_level(v, c.level); },
     [](const proxy_config& c) { return std::string(to_string(c.level)); }},
    {"log-format", option_type::choice, "FORMAT", 0, 0, mode_all, "--log-format", "text|json",
     "standard error's log lines: text, or one JSON object per line (time, level, session, "
     "event, msg, fields)",
     [](proxy_config& c, std::string_view v) {
       c.log_output = v == "json" ? log_format::json : log_format::text;
     },
     [](const proxy_config& c) { return std::string(to_string(c.log_output)); }},

    // --- HTTP mode ------------------------------------------------------------
    {"max-sessions", option_type::integer, "N", 1, u32max, mode_http | mode_any_upstream,
     "--max-sessions", "", "most sessions at once; beyond it initialize gets 503",
     MCPFWD_NUM(max_sessions, std::size_t)},
    {"idle-timeout-ms", option_type::duration_ms, "MS", 1, u32max, mode_http | mode_any_upstream,
     "--idle-timeout-ms", "",
     "close sessions idle this long (never one with a stream open or a request in flight)",
     MCPFWD_MS(idle_timeout)},
    {"request-timeout-ms", option_type::duration_ms, "MS", 0, u32max, mode_http | mode_any_upstream,
     "--request-timeout-ms", "",
     "answer a request with an error when its server has said nothing about it (no answer, no "
     "progress) for MS, and cancel it upstream (0: never)",
     MCPFWD_MS(request_timeout)},
    {"drain-timeout-ms", option_type::duration_ms, "MS", 0, u32max, mode_http | mode_any_upstream,
     "--drain-timeout-ms", "", "at shutdown, wait this long for requests in flight",
     MCPFWD_MS(drain_timeout)},
    {"stream-buffer-bytes", option_type::bytes, "N", 1024, size_max, mode_http | mode_any_upstream,
     "--stream-buffer-bytes", "",
     "server messages queued for one client stream; a client that falls further behind loses "
     "that stream",
     MCPFWD_NUM(stream_buffer_bytes, std::size_t)},
    {"io-threads", option_type::integer, "N", 0, 256, mode_http | mode_any_upstream, "--io-threads",
     "", "I/O threads (0: one per core)", MCPFWD_NUM(io_threads, unsigned)},
    {"prespawn", option_type::integer, "N", 0, 1024, mode_http | mode_command, "--prespawn", "",
     "keep N server processes started ahead of new sessions (a spawner thread replaces each one "
     "a session takes; 0: spawn on demand)",
     MCPFWD_NUM(prespawn, std::size_t)},
    {"allow-origin", option_type::list, "ORIGIN", 0, 0, mode_http | mode_any_upstream,
     "--allow-origin", "",
     "allow this Origin (repeatable, '*' for any; default: localhost origins)",
     MCPFWD_LIST(allowed_origins), not_empty},
    {"allow-host", option_type::list, "HOST", 0, 0, mode_http | mode_any_upstream, "--allow-host",
     "",
     "accept this Host header value (repeatable, '*' for any; default on a loopback bind: "
     "loopback names with the listener's port)",
     MCPFWD_LIST(allowed_hosts), not_empty},
    {"auth-token", option_type::text, "TOKEN", 0, 0, mode_http | mode_any_upstream, "", "",
     "require 'Authorization: Bearer TOKEN' on every request (CLI: --auth-token-env VAR)",
     MCPFWD_TEXT(auth_token)},
    {"max-connections", option_type::integer, "N", 0, u32max, mode_http | mode_any_upstream,
     "--max-connections", "",
     "most client connections at once; more are refused with 503 (0: half the descriptor limit)",
     MCPFWD_NUM(max_connections, std::size_t)},
    {"header-timeout-ms", option_type::duration_ms, "MS", 1, u32max, mode_http | mode_any_upstream,
     "--header-timeout-ms", "", "a request's head must arrive within MS of its first byte",
     MCPFWD_MS(header_timeout)},
    {"body-timeout-ms", option_type::duration_ms, "MS", 1, u32max, mode_http | mode_any_upstream,
     "--body-timeout-ms", "", "a request's body must arrive within MS of its head",
     MCPFWD_MS(body_timeout)},
    {"keepalive-timeout-ms", option_type::duration_ms, "MS", 1, u32max,
     mode_http | mode_any_upstream, "--keepalive-timeout-ms", "",
     "close a client connection idle this long between requests", MCPFWD_MS(keepalive_timeout)},

    {"admin", option_type::address, "HOST:PORT", 0, 0, mode_http | mode_any_upstream, "--admin", "",
     "serve /metrics (Prometheus), /healthz, /readyz and /sessions on a second listener (a "
     "PORT alone binds 127.0.0.1)",
     [](proxy_config& c, std::string_view v) {
       const auto colon = v.rfind(':');
       std::string_view host = v.substr(0, colon);
       if (host.size() > 2 && host.front() == '[' && host.back() == ']')
         host = host.substr(1, host.size() - 2);
       c.admin_host = std::string(host);
       c.admin_port = static_cast<std::uint16_t>(to_u64(v.substr(colon + 1)));
     },
     [](const proxy_config& c) {
       if (c.admin_host.empty()) return std::string();
       const bool v6 = c.admin_host.find(':') != std::string::npos;
       return (v6 ? "[" + c.admin_host + "]" : c.admin_host) + ":" + std::to_string(c.admin_port);
     }},
    {"admin-token", option_type::text, "TOKEN", 0, 0, mode_http | mode_any_upstream, "", "",
     "require 'Authorization: Bearer TOKEN' on the admin listener's /metrics and /sessions "
     "(CLI: --admin-token-env VAR)",
     MCPFWD_TEXT(admin_token)},
    {"node-id", option_type::text, "ID", 0, 0, mode_http | mode_any_upstream, "--node-id", "",
     "this instance's name among several behind a load balancer: session ids become ID.HEX, "
     "so the balancer routes each session by its id (letters, digits, '-', '_'; 1 to 32)",
     MCPFWD_TEXT(node_id), node_id_form},

    {"stateless-key", option_type::text, "KEY", 0, 0, mode_http | mode_any_upstream,
     "--stateless-key", "",
     "what isolates stateless-era (2026-07-28) requests: shared (one upstream instance for "
     "all), header:NAME (one per value of header NAME) or authorization (one per "
     "Authorization value)",
     [](proxy_config& c, std::string_view v) {
       if (v != "shared" && v != "authorization" &&
           !(v.starts_with("header:") && v.size() > 7 &&
             v.find_first_of(" \t\r\n:", 7) == std::string_view::npos))
         throw api_error(errc::invalid_arg,
                         "--stateless-key: expected shared, header:NAME or authorization, got '" +
                             std::string(v) + "'");
       c.stateless_key = std::string(v);
     },
     [](const proxy_config& c) { return c.stateless_key; }},
    {"upstream-era", option_type::choice, "ERA", 0, 0, mode_any_downstream | mode_any_upstream,
     "--upstream-era", "auto|legacy|modern",
     "the protocol era the upstream serves: auto probes each new upstream instance with "
     "server/discover (stateless-era clients of a session-era server are bridged), and bridges a "
     "session-era client to a server that refuses initialize naming only 2026-07-28; legacy "
     "takes the upstream for a session-era server without probing (stateless-era clients are "
     "bridged at once, session-era clients never); modern bridges session-era clients without "
     "trying initialize",
     [](proxy_config& c, std::string_view v) {
       c.era = v == "legacy"   ? upstream_era::legacy
               : v == "modern" ? upstream_era::modern
                               : upstream_era::auto_detect;
     },
     [](const proxy_config& c) { return std::string(to_string(c.era)); }},

    // --- a spawned server -------------------------------------------------------
    {"env", option_type::list, "NAME=VALUE", 0, 0, mode_any_downstream | mode_command, "--env", "",
     "set NAME in the spawned server's environment (repeatable)",
     [](proxy_config& c, std::string_view v) {
       const auto eq = v.find('=');
       c.upstream.env.emplace_back(std::string(v.substr(0, eq)), std::string(v.substr(eq + 1)));
     },
     [](const proxy_config& c) {
       std::string s;
       for (const auto& [n, v] : c.upstream.env)
         if (v) s += (s.empty() ? "" : ",") + n + "=" + *v;
       return s;
     },
     name_equals_value},
    {"unset-env", option_type::list, "NAME", 0, 0, mode_any_downstream | mode_command,
     "--unset-env", "", "remove NAME from the spawned server's environment (repeatable)",
     [](proxy_config& c, std::string_view v) {
       c.upstream.env.emplace_back(std::string(v), std::nullopt);
     },
     [](const proxy_config& c) {
       std::string s;
       for (const auto& [n, v] : c.upstream.env)
         if (!v) s += (s.empty() ? "" : ",") + n;
       return s;
     },
     env_name},
    {"clear-env", option_type::flag, "", 0, 0, mode_any_downstream | mode_command, "--clear-env",
     "", "start the spawned server's environment empty", MCPFWD_FLAG(upstream.clear_env)},
    {"cwd", option_type::text, "DIR", 0, 0, mode_any_downstream | mode_command, "--cwd", "",
     "the spawned server's working directory", MCPFWD_TEXT(upstream.cwd), not_empty},

    // --- a remote server --------------------------------------------------------
    {"upstream-transport", option_type::choice, "T", 0, 0, mode_any_downstream | mode_url,
     "--upstream-transport", "auto|streamable-http|sse",
     "auto POSTs and falls back to HTTP+SSE on 400/404/405",
     [](proxy_config& c, std::string_view v) {
       c.remote.transport = v == "sse"               ? upstream_transport::sse
                            : v == "streamable-http" ? upstream_transport::streamable_http
                                                     : upstream_transport::auto_detect;
     },
     [](const proxy_config& c) { return std::string(to_string(c.remote.transport)); }},
    {"upstream-header", option_type::list, "'NAME: VALUE'", 0, 0, mode_any_downstream | mode_url,
     "--upstream-header", "", "send this header upstream (repeatable)",
     [](proxy_config& c, std::string_view v) {
       const auto colon = v.find(':');
       std::string_view val = v.substr(colon + 1);
       while (!val.empty() && (val.front() == ' ' || val.front() == '\t')) val.remove_prefix(1);
       c.remote.headers.emplace_back(std::string(v.substr(0, colon)), std::string(val));
     },
     [](const proxy_config& c) {
       std::string s;
       for (const auto& [n, v] : c.remote.headers) s += (s.empty() ? "" : ",") + n + ": ...";
       return s;
     },
     header_line},
    {"forward-authorization", option_type::flag, "", 0, 0, mode_any_downstream | mode_url,
     "--forward-authorization", "",
     "pass each client's Authorization header upstream (default: never)",
     MCPFWD_FLAG(remote.forward_authorization)},
    {"upstream-ca-file", option_type::text, "PATH", 0, 0, mode_any_downstream | mode_url,
     "--upstream-ca-file", "", "verify the upstream's certificate with these CAs",
     MCPFWD_TEXT(remote.ca_file)},
    {"upstream-insecure", option_type::flag, "", 0, 0, mode_any_downstream | mode_url,
     "--upstream-insecure", "", "do not verify the upstream's certificate (warns)",
     MCPFWD_FLAG(remote.insecure)},
    {"upstream-pool-max", option_type::integer, "N", 2, 65536, mode_any_downstream | mode_url,
     "--upstream-pool-max", "",
     "keep-alive connections per upstream origin (one is kept for answers to the server's "
     "requests)",
     MCPFWD_NUM(remote.pool_max, std::size_t)},
    {"upstream-connect-timeout-ms", option_type::duration_ms, "MS", 1, u32max,
     mode_any_downstream | mode_url, "--upstream-connect-timeout-ms", "",
     "TCP connect and TLS handshake", MCPFWD_MS(remote.connect_timeout)},
    {"upstream-timeout-ms", option_type::duration_ms, "MS", 1, u32max,
     mode_any_downstream | mode_url, "--upstream-timeout-ms", "",
     "wait this long for an answer to start", MCPFWD_MS(remote.timeout)},
};

#undef MCPFWD_NUM
#undef MCPFWD_MS
#undef MCPFWD_TEXT
#undef MCPFWD_LIST
#undef MCPFWD_FLAG

static_assert(std::size(table) <= 64, "proxy_config::explicitly_set has 64 bits");

std::size_t index_of(const option_spec& o) {
  return static_cast<std::size_t>(&o - table);
}

// The value in canonical form, or an exception naming the problem.
std::string parse(const option_spec& o, std::string_view v) {
  switch (o.type) {
    case option_type::flag:
      if (v == "1" || v == "true" || v == "on" || v == "yes" || v.empty()) return "1";
      if (v == "0" || v == "false" || v == "off" || v == "no") return "0";
      bad(o, "expects true or false, got '" + std::string(v) + "'");
    case option_type::integer:
    case option_type::duration_ms:
    case option_type::bytes: {
      std::uint64_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (v.empty() || ec != std::errc() || p != v.data() + v.size())
        bad(o, "needs a number, got '" + std::string(v) + "'");
      const char* unit = o.type == option_type::duration_ms ? " ms"
                         : o.type == option_type::bytes     ? " bytes"
                                                            : "";
      if (n < o.min) bad(o, "must be at least " + std::to_string(o.min) + unit);
      if (n > o.max) bad(o, "must be at most " + std::to_string(o.max) + unit);
      return std::to_string(n);
    }
    case option_type::choice: {
      std::string_view rest = o.choices;
      while (!rest.empty()) {
        const auto bar = rest.find('|');
        if (rest.substr(0, bar) == v) return std::string(v);
        if (bar == std::string_view::npos) break;
        rest.remove_prefix(bar + 1);
      }
      if (o.name == "log-level" && v == "warning") return "warn";
      std::string alts(o.choices);
      for (auto& ch : alts)
        if (ch == '|') ch = ',';
      bad(o, "must be one of " + alts + ", got '" + std::string(v) + "'");
    }
    case option_type::address: {
      // --admin PORT: on the loopback address.
      if (o.name == "admin" && !v.empty() && v.find_first_not_of("0123456789") == v.npos)
        return parse(o, "127.0.0.1:" + std::string(v));
      const auto colon = v.rfind(':');
      std::uint16_t port = 0;
      const std::string_view ps = colon == std::string_view::npos ? "" : v.substr(colon + 1);
      auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
      if (colon == std::string_view::npos || colon == 0 || ps.empty() || ec != std::errc() ||
          p != ps.data() + ps.size())
        bad(o, "needs HOST:PORT, e.g. 127.0.0.1:8931");
      return std::string(v);
    }
    case option_type::text:
    case option_type::list:
      if (v.find('\0') != std::string_view::npos) bad(o, "contains a NUL byte");
      break;
  }
  if (o.check != nullptr)
    if (const char* problem = o.check(v)) bad(o, problem);
  return std::string(v);
}

// Why an option set for another configuration is refused.
std::string not_here(const option_spec& o, bool downstream_ok) {
  const std::string flag = "--" + std::string(o.name);
  if (!downstream_ok)
    return flag + ((o.modes & mode_any_downstream) == mode_http
                       ? " applies only to HTTP mode (--listen)"
                       : " applies only to stdio mode (--stdio)");
  if ((o.modes & mode_any_upstream) == mode_url)
    return flag + " and the other remote-upstream options need --upstream URL";
  return flag + " and the other spawned-server options need a server command (after '--')";
}

}  // namespace

std::span<const option_spec> options() noexcept {
  return table;
}

const option_spec* find_option(std::string_view name) noexcept {
  for (const auto& o : table)
    if (o.name == name) return &o;
  return nullptr;
}

void set_option(proxy_config& cfg, const option_spec& opt, std::string_view value) {
  const std::string v = parse(opt, value);
  opt.set(cfg, v);
  cfg.explicitly_set |= std::uint64_t{1} << index_of(opt);
}

void set_option(proxy_config& cfg, std::string_view name, std::string_view value) {
  const option_spec* o = find_option(name);
  if (o == nullptr)
    throw api_error(errc::invalid_arg, "unknown option '" + std::string(name) + "'");
  set_option(cfg, *o, value);
}

void reset_option(proxy_config& cfg, std::string_view name) {
  const option_spec* o = find_option(name);
  if (o == nullptr || o->type != option_type::text)
    throw api_error(errc::invalid_arg, "option '" + std::string(name) + "' cannot be reset");
  o->set(cfg, o->get(proxy_config{}));
  cfg.explicitly_set &= ~(std::uint64_t{1} << index_of(*o));
}

void validate(const proxy_config& cfg, bool upstream_optional) {
  const bool has_cmd = !cfg.upstream.argv.empty() && !cfg.upstream.argv[0].empty();
  const bool has_url = !cfg.remote.url.empty();
  if (!has_cmd && !has_url && !upstream_optional)
    throw api_error(errc::invalid_arg, "no upstream configured (a server command or a URL)");
  if (has_cmd && has_url)
    throw api_error(errc::invalid_arg, "choose one upstream: a server command or a URL");
  const bool has_stdio = cfg.stdio_in >= 0 && cfg.stdio_out >= 0;
  const bool has_listen = !cfg.listen_host.empty();
  if (!has_stdio && !has_listen)
    throw api_error(errc::invalid_arg,
                    "no downstream configured (set the stdio descriptors or a listen address)");
  if (has_stdio && has_listen)
    throw api_error(errc::invalid_arg, "choose one downstream: stdio or a listen address");

  // One rule for every option: set for a mode it does not apply to is an error.
  const bool no_upstream = !has_cmd && !has_url;
  const unsigned mode = (has_listen ? mode_http : mode_stdio) | (has_cmd   ? mode_command
                                                                 : has_url ? mode_url
                                                                           : mode_any_upstream);
  for (const auto& o : table) {
    if (!(cfg.explicitly_set & (std::uint64_t{1} << index_of(o)))) continue;
    const bool down_ok = (o.modes & mode & mode_any_downstream) != 0;
    // Without a default upstream, an option of one upstream kind has nothing to apply to.
    const bool up_ok = no_upstream ? (o.modes & mode_any_upstream) == mode_any_upstream
                                   : (o.modes & mode & mode_any_upstream) != 0;
    if (!down_ok || !up_ok) throw api_error(errc::invalid_arg, not_here(o, down_ok));
  }

  if (!cfg.upstream.cwd.empty()) {
    struct stat st {};
    if (::stat(cfg.upstream.cwd.c_str(), &st) != 0)
      throw api_error(errc::invalid_arg, "upstream working directory " + cfg.upstream.cwd + ": " +
                                             std::strerror(errno));
    if (!S_ISDIR(st.st_mode))
      throw api_error(errc::invalid_arg,
                      "upstream working directory " + cfg.upstream.cwd + ": not a directory");
  }
  if (!cfg.admin_token.empty() && cfg.admin_host.empty())
    throw api_error(errc::invalid_arg, "--admin-token needs --admin HOST:PORT");
  if (cfg.remote.forward_authorization && !cfg.auth_token.empty())
    throw api_error(
        errc::invalid_arg,
        "forwarding the client's Authorization header cannot be combined with an "
        "auth token: that header carries mcpfwd's own token, which never goes upstream");
}

}  // namespace mcpfwd
