#include "config/config_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include <boost/json.hpp>

#include "base/errors.hpp"
#include "config/options.hpp"

namespace mcpfwd {

namespace json = boost::json;

namespace {

// The options a named server may set: its upstream's and its sessions'
// limits. Every other option is proxy-wide (the listener, logs, admin).
constexpr std::string_view server_options[] = {
    "max-sessions",
    "idle-timeout-ms",
    "request-timeout-ms",
    "stream-buffer-bytes",
    "shutdown-grace-ms",
    "stateless-key",
    "upstream-era",
    "env",
    "unset-env",
    "clear-env",
    "cwd",
    "upstream-transport",
    "upstream-header",
    "forward-authorization",
    "upstream-ca-file",
    "upstream-insecure",
    "upstream-pool-max",
    "upstream-connect-timeout-ms",
    "upstream-timeout-ms",
};

struct file_error {
  std::string file;
  [[noreturn]] void at(const std::string& path, const std::string& problem) const {
    throw api_error(errc::invalid_arg, file + ": " + path + ": " + problem);
  }
  [[noreturn]] void whole(const std::string& problem) const {
    throw api_error(errc::invalid_arg, file + ": " + problem);
  }
};

std::string join_path(const std::string& a, std::string_view key) {
  return a.empty() ? std::string(key) : a + "." + std::string(key);
}

std::uint64_t bit_of(const option_spec& o) {
  return std::uint64_t{1} << static_cast<std::size_t>(&o - options().data());
}

const char* kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "a list";
    case json::kind::object: return "an object";
  }
  return "?";
}

// A scalar as the option's text: what the same value on the command line is.
std::string scalar_text(const file_error& err, const std::string& path, const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return std::string(v.get_string());
    case json::kind::bool_: return v.get_bool() ? "true" : "false";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return json::serialize(v);
    default: err.at(path, std::string("expects a single value, got ") + kind_name(v));
  }
}

// One option's value from the file: through the options table, so it is
// checked as the command line's would be; the message gains the key path.
void apply_option(const file_error& err, proxy_config& cfg, const option_spec& o,
                  const std::string& path, const json::value& v) {
  auto set = [&](const std::string& text) {
    try {
      set_option(cfg, o, text);
    } catch (const api_error& e) {
      err.at(path, e.what());
    }
  };
  if (v.is_array()) {
    if (o.type != option_type::list)
      err.at(path, "--" + std::string(o.name) + " takes one value, not a list");
    std::size_t i = 0;
    for (const auto& x : v.get_array())
      set(scalar_text(err, path + "[" + std::to_string(i++) + "]", x));
    return;
  }
  set(scalar_text(err, path, v));
}

std::string string_at(const file_error& err, const std::string& path, const json::value& v) {
  if (!v.is_string()) err.at(path, std::string("expects a string, got ") + kind_name(v));
  return std::string(v.get_string());
}

std::vector<std::string> args_at(const file_error& err, const std::string& path,
                                 const json::value& v) {
  if (!v.is_array()) err.at(path, std::string("expects a list of strings, got ") + kind_name(v));
  std::vector<std::string> out;
  std::size_t i = 0;
  for (const auto& a : v.get_array()) {
    const std::string p = path + "[" + std::to_string(i++) + "]";
    if (!a.is_string()) err.at(p, std::string("expects a string, got ") + kind_name(a));
    out.emplace_back(a.get_string());
  }
  return out;
}

// The upstream part of a configuration back to its defaults (a named server
// starts from the top level without the default upstream).
void clear_upstream(proxy_config& c) {
  c.upstream = spawn_options{};
  c.remote = remote_options{};
  for (const auto& o : options())
    if (o.name == "upstream" || (o.modes & mode_any_upstream) != mode_any_upstream)
      c.explicitly_set &= ~bit_of(o);
}

// One entry of "servers" / "mcpServers".
// `ignored` is given for a host's "mcpServers" entry: a key mcpfwd does not
// know is then the host's own (noted there), not a mistake.
named_server parse_server(const file_error& err, const proxy_config& top, const std::string& path,
                          std::string_view name, const json::value& v,
                          std::vector<std::string>* ignored) {
  if (!valid_server_name(name))
    err.at(path, "a server name is letters, digits, '.', '_' and '-' (it is a URL path segment)");
  if (!v.is_object()) err.at(path, std::string("expects an object, got ") + kind_name(v));
  named_server s{std::string(name), top};
  clear_upstream(s.cfg);
  std::optional<std::string> command, url, type;
  std::vector<std::string> args;
  bool has_args = false;
  for (const auto& [k, x] : v.get_object()) {
    const std::string p = join_path(path, k);
    if (k == "command") {
      command = string_at(err, p, x);
      if (command->empty()) err.at(p, "must not be empty");
    } else if (k == "args") {
      args = args_at(err, p, x);
      has_args = true;
    } else if (k == "url") {
      url = string_at(err, p, x);
    } else if (k == "type" || k == "transport") {
      type = string_at(err, p, x);
      if (*type != "stdio" && *type != "sse" && *type != "http" && *type != "streamable-http" &&
          *type != "streamableHttp" && *type != "streamable_http")
        err.at(p, "expects stdio, sse or http (streamable-http), got '" + *type + "'");
    } else if (k == "env") {
      if (!x.is_object())
        err.at(p, std::string("expects an object of NAME: VALUE, got ") + kind_name(x));
      for (const auto& [en, ev] : x.get_object()) {
        const std::string ep = join_path(p, en);
        if (ev.is_null())
          apply_option(err, s.cfg, *find_option("unset-env"), ep, json::value(en));
        else
          apply_option(err, s.cfg, *find_option("env"), ep,
                       json::value(std::string(en) + "=" + scalar_text(err, ep, ev)));
      }
    } else if (k == "headers") {
      if (!x.is_object())
        err.at(p, std::string("expects an object of NAME: VALUE, got ") + kind_name(x));
      for (const auto& [hn, hv] : x.get_object()) {
        const std::string hp = join_path(p, hn);
        apply_option(err, s.cfg, *find_option("upstream-header"), hp,
                     json::value(std::string(hn) + ": " + string_at(err, hp, hv)));
      }
    } else if (k == "disabled") {
      if (!x.is_bool()) err.at(p, std::string("expects true or false, got ") + kind_name(x));
    } else if (const option_spec* o = find_option(k)) {
      if (!per_server_option(k))
        err.at(p, "--" + std::string(k) + " is proxy-wide: set it at the top level");
      apply_option(err, s.cfg, *o, p, x);
    } else if (ignored) {
      ignored->push_back(p);
    } else {
      err.at(p,
             "unknown key (a server takes command, args, env, cwd, url, type, headers, "
             "disabled and the per-server options of docs/configuration.md)");
    }
  }
  if (command && url) err.at(path, "has both a command and a url: choose one");
  if (!command && !url) err.at(path, "needs a command (a server to spawn) or a url");
  if (has_args && !command) err.at(join_path(path, "args"), "needs a command");
  if (command) {
    if (type && *type != "stdio")
      err.at(join_path(path, "type"), "'" + *type + "' needs a url, not a command");
    s.cfg.upstream.argv.push_back(*command);
    s.cfg.upstream.argv.insert(s.cfg.upstream.argv.end(), args.begin(), args.end());
  } else {
    if (type && *type == "stdio") err.at(join_path(path, "type"), "'stdio' needs a command");
    apply_option(err, s.cfg, *find_option("upstream"), join_path(path, "url"), json::value(*url));
    if (type)
      apply_option(err, s.cfg, *find_option("upstream-transport"), join_path(path, "type"),
                   json::value(*type == "sse" ? "sse" : "streamable-http"));
  }
  try {
    validate(s.cfg);
  } catch (const api_error& e) {
    err.at(path, e.what());
  }
  return s;
}

// Line and column (from 1) of a byte offset.
std::pair<std::size_t, std::size_t> line_col(std::string_view text, std::size_t off) {
  off = std::min(off, text.size());
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < off; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

json::value parse_json(const file_error& err, std::string_view text) {
  json::parse_options po;
  po.allow_comments = true;  // host configs are often JSONC
  po.allow_trailing_commas = true;
  json::stream_parser p({}, po);
  boost::system::error_code ec;
  const std::size_t used = p.write_some(text.data(), text.size(), ec);
  if (!ec && used < text.size()) ec = json::error::extra_data;
  std::size_t at = used;
  if (!ec) {
    p.finish(ec);
    at = text.size();
  }
  if (ec) {
    // The parser stops on the offending character; past the end: the text ended early.
    const auto [line, col] = line_col(text, at);
    std::string near;
    if (at < text.size()) {  // what the parser stopped at, up to the end of its line
      std::string_view rest = text.substr(at, 24);
      rest = rest.substr(0, rest.find_first_of("\r\n"));
      near = " at '" + std::string(rest) + (rest.size() == 24 ? "...'" : "'");
    }
    err.whole("line " + std::to_string(line) + ", column " + std::to_string(col) + ": " +
              (at >= text.size() ? "unexpected end of the file (" + ec.message() + ")"
                                 : ec.message() + near));
  }
  return p.release();
}

bool is_set(const proxy_config& c, const option_spec& o) {
  return (c.explicitly_set & bit_of(o)) != 0;
}

}  // namespace

bool per_server_option(std::string_view name) noexcept {
  return std::find(std::begin(server_options), std::end(server_options), name) !=
         std::end(server_options);
}

config_layout parse_config_text(const proxy_config& cli, std::string_view file,
                                std::string_view text) {
  const file_error err{std::string(file)};
  const json::value root = parse_json(err, text);
  if (!root.is_object())
    err.whole(std::string("the file must hold one JSON object, not ") + kind_name(root));

  config_layout out;
  const bool host_file = root.get_object().contains("mcpServers");
  proxy_config& g = out.global;
  g = cli;
  const bool cli_upstream =
      (!cli.upstream.argv.empty() && !cli.upstream.argv[0].empty()) || !cli.remote.url.empty();
  std::optional<std::string> command;
  std::vector<std::string> args;
  bool has_args = false;
  // (path, name, entry) of every server, both spellings.
  std::vector<std::tuple<std::string, std::string, const json::value*>> entries;

  for (const auto& [k, v] : root.get_object()) {
    const std::string p(k);
    if (k == "servers" || k == "mcpServers") {
      if (!v.is_object()) err.at(p, std::string("expects an object, got ") + kind_name(v));
      for (const auto& [name, e] : v.get_object()) {
        const std::string sp = join_path(p, name);
        for (const auto& [other_path, other, unused] : entries)
          if (other == name)
            err.at(sp, "a second server named '" + other + "' (" + other_path + ")");
        entries.emplace_back(sp, std::string(name), &e);
      }
    } else if (k == "command") {
      command = string_at(err, p, v);
      if (command->empty()) err.at(p, "must not be empty");
    } else if (k == "args") {
      args = args_at(err, p, v);
      has_args = true;
    } else if (k == "config") {
      err.at(p, "a configuration file cannot name another one");
    } else if (k == "$schema") {
      continue;  // editors' hint, nothing for mcpfwd
    } else if (const option_spec* o = find_option(k)) {
      if (is_set(cli, *o)) continue;  // the command line wins
      if (o->name == "upstream" && cli_upstream) continue;
      apply_option(err, g, *o, p, v);
    } else if (host_file) {
      out.ignored.push_back(p);
    } else {
      err.at(p,
             "unknown key (the top level takes the options of docs/options.md by name, "
             "command, args, servers and mcpServers)");
    }
  }
  if (has_args && !command) err.at("args", "needs a command");
  if (command && !cli_upstream) {
    if (!g.remote.url.empty())
      err.at("command", "the file gives both a command and an upstream URL");
    g.upstream.argv.push_back(*command);
    g.upstream.argv.insert(g.upstream.argv.end(), args.begin(), args.end());
  }

  if (!entries.empty() && g.listen_host.empty())
    err.whole("named servers are served over HTTP: set \"listen\" (or --listen)");
  try {
    validate(g, !entries.empty());
  } catch (const api_error& e) {
    err.whole(e.what());
  }

  for (const auto& [path, name, e] : entries) {
    if (e->is_object())
      if (const auto* d = e->get_object().if_contains("disabled");
          d && d->is_bool() && d->get_bool())
        continue;
    const bool host_entry = path.starts_with("mcpServers.");
    out.servers.push_back(
        parse_server(err, g, path, name, *e, host_entry ? &out.ignored : nullptr));
  }
  std::sort(out.servers.begin(), out.servers.end(),
            [](const named_server& a, const named_server& b) { return a.name < b.name; });
  return out;
}

std::string ignored_keys_note(std::string_view file, const std::vector<std::string>& keys) {
  std::string s = std::string(file) + ": ignored what mcpfwd does not use in a host's file: ";
  for (std::size_t i = 0; i < keys.size(); ++i) s += (i ? ", " : "") + keys[i];
  return s;
}

config_layout load_config_file(const proxy_config& cli) {
  const std::string& file = cli.config_file;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int e = errno;
    throw api_error(errc::invalid_arg,
                    "cannot read config file " + file + ": " + std::strerror(e ? e : ENOENT));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw api_error(errc::invalid_arg, "cannot read config file " + file);
  return parse_config_text(cli, file, ss.str());
}

}  // namespace mcpfwd
