// The config file parser (config/config_file.hpp): values go through the
// options table, errors name the file and the line (syntax) or the key path.
#include "config/config_file.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "base/errors.hpp"
#include "config/options.hpp"

using namespace mcpfwd;

namespace {

proxy_config cli() {
  proxy_config c;
  c.config_file = "test.json";
  return c;
}

config_layout parse(std::string_view text, const proxy_config& base = cli()) {
  return parse_config_text(base, "test.json", text);
}

// The message of the api_error that parsing `text` throws ("" if none).
std::string error_of(std::string_view text, const proxy_config& base = cli()) {
  try {
    parse(text, base);
  } catch (const api_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config file: options by name, a default upstream and named servers") {
  const auto l = parse(R"({
    // comments and trailing commas are allowed (host configs are often JSONC)
    "listen": "127.0.0.1:0",
    "max-sessions": 7,
    "request-timeout-ms": "1500",
    "allow-origin": ["https://a.example", "https://b.example"],
    "command": "python3", "args": ["-m", "srv"],
    "servers": {
      "b": {"url": "http://127.0.0.1:9/mcp", "type": "sse", "headers": {"X-Key": "k"}},
      "a": {"command": "node", "args": ["x.js"], "env": {"K": "V", "GONE": null},
            "max-sessions": 2, "request-timeout-ms": 250},
    },
  })");
  CHECK(l.global.listen_host == "127.0.0.1");
  CHECK(l.global.max_sessions == 7);
  CHECK(l.global.request_timeout.count() == 1500);
  CHECK(l.global.allowed_origins.size() == 2);
  CHECK(l.global.upstream.argv == std::vector<std::string>{"python3", "-m", "srv"});
  REQUIRE(l.servers.size() == 2);
  const auto& a = l.servers[0];  // sorted by name
  CHECK(a.name == "a");
  CHECK(a.cfg.upstream.argv == std::vector<std::string>{"node", "x.js"});
  CHECK(a.cfg.max_sessions == 2);
  CHECK(a.cfg.request_timeout.count() == 250);
  REQUIRE(a.cfg.upstream.env.size() == 2);
  CHECK(a.cfg.upstream.env[0].first == "K");
  CHECK(a.cfg.upstream.env[0].second == "V");
  CHECK_FALSE(a.cfg.upstream.env[1].second.has_value());
  CHECK(a.cfg.allowed_origins.size() == 2);  // proxy-wide values are inherited
  const auto& b = l.servers[1];
  CHECK(b.cfg.upstream.argv.empty());  // not the default upstream's command
  CHECK(b.cfg.remote.url == "http://127.0.0.1:9/mcp");
  CHECK(b.cfg.remote.transport == upstream_transport::sse);
  CHECK(b.cfg.remote.headers.size() == 1);
  CHECK(b.cfg.max_sessions == 7);  // the top level's
}

TEST_CASE("config file: the mcpServers shape of desktop hosts, as is") {
  const auto l = parse(R"({"listen": "127.0.0.1:0", "mcpServers": {
      "everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]},
      "remote": {"url": "https://example.com/mcp"},
      "off": {"command": "nothing", "disabled": true}}})");
  REQUIRE(l.servers.size() == 2);
  CHECK(l.servers[0].name == "everything");
  CHECK(l.servers[1].cfg.remote.url == "https://example.com/mcp");
  CHECK(l.global.upstream.argv.empty());
}

TEST_CASE("config file: the command line wins over the file's top level") {
  proxy_config c = cli();
  set_option(c, "max-sessions", "3");
  set_option(c, "listen", "127.0.0.1:5000");
  c.upstream.argv = {"from-cli"};
  const auto l = parse(
      R"({"listen": "127.0.0.1:0", "max-sessions": 9, "idle-timeout-ms": 5000, "command": "x"})",
      c);
  CHECK(l.global.max_sessions == 3);
  CHECK(l.global.listen_port == 5000);
  CHECK(l.global.idle_timeout.count() == 5000);
  CHECK(l.global.upstream.argv == std::vector<std::string>{"from-cli"});
}

TEST_CASE("config file: a host's own keys in an mcpServers file are ignored, and listed") {
  const auto l = parse(R"({"listen": "127.0.0.1:0", "globalShortcut": "Ctrl+Space",
    "mcpServers": {"a": {"command": "x", "autoApprove": ["t"], "disabled": false}},
    "servers": {"b": {"command": "y"}}})");
  REQUIRE(l.servers.size() == 2);
  CHECK(l.ignored == std::vector<std::string>{"globalShortcut", "mcpServers.a.autoApprove"});
  CHECK(ignored_keys_note("test.json", l.ignored) ==
        "test.json: ignored what mcpfwd does not use in a host's file: globalShortcut, "
        "mcpServers.a.autoApprove");
  // mcpfwd's own "servers" shape stays strict, even beside mcpServers.
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "mcpServers": {"a": {"command": "x"}},
    "servers": {"b": {"command": "y", "bogus": 1}}})")
            .starts_with("test.json: servers.b.bogus: unknown key"));
}

TEST_CASE("config file: a syntax error names the line and column") {
  const std::string e = error_of("{\n  \"listen\": \"127.0.0.1:0\",\n  \"max-sessions\": 5 6\n}");
  CHECK(e.starts_with("test.json: line 3, column 21: "));
  CHECK(error_of("{\"listen\": ").find("line 1, column 12: unexpected end of the file") !=
        std::string::npos);
  CHECK(error_of("[1]") == "test.json: the file must hold one JSON object, not a list");
}

TEST_CASE("config file: other errors name the key path") {
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "command": "x", "max-sesions": 5})") ==
        "test.json: max-sesions: unknown key (the top level takes the options of "
        "docs/options.md by name, command, args, servers and mcpServers)");
  // The option's own validation message, as on the command line.
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "command": "x", "max-sessions": 0})") ==
        "test.json: max-sessions: --max-sessions must be at least 1");
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "servers": {"a": {"command": "x",
        "request-timeout-ms": -1}}})") ==
        "test.json: servers.a.request-timeout-ms: --request-timeout-ms needs a number, got '-1'");
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "servers": {"a": {"args": ["x"]}}})") ==
        "test.json: servers.a: needs a command (a server to spawn) or a url");
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "servers": {"a": {"command": "x", "bogus": 1}}})")
            .starts_with("test.json: servers.a.bogus: unknown key"));
  CHECK(error_of(
            R"({"listen": "127.0.0.1:0", "servers": {"a": {"command": "x", "listen": "1:2"}}})") ==
        "test.json: servers.a.listen: --listen is proxy-wide: set it at the top level");
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "servers": {"a b": {"command": "x"}}})")
            .starts_with("test.json: servers.a b: a server name is"));
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "servers": {"a": {"command": "x"}},
        "mcpServers": {"a": {"command": "y"}}})") ==
        "test.json: mcpServers.a: a second server named 'a' (servers.a)");
  CHECK(
      error_of(
          R"({"listen": "127.0.0.1:0", "servers": {"a": {"url": "http://h/", "env": {"A": "1"}}}})") ==
      "test.json: servers.a: --env and the other spawned-server options need a server command "
      "(after '--')");
  CHECK(error_of(R"({"servers": {"a": {"command": "x"}}})") ==
        "test.json: named servers are served over HTTP: set \"listen\" (or --listen)");
  CHECK(error_of(R"({"listen": "127.0.0.1:0"})") ==
        "test.json: no upstream configured (a server command or a URL)");
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "config": "x.json", "command": "x"})") ==
        "test.json: config: a configuration file cannot name another one");
  CHECK(error_of(R"({"listen": "127.0.0.1:0", "command": "x", "max-sessions": [1, 2]})") ==
        "test.json: max-sessions: --max-sessions takes one value, not a list");
}

TEST_CASE("config file: every option is settable by its name") {
  // Each option's current (default) text goes back in through the file.
  for (const auto& o : options()) {
    if (o.name == "config" || o.name == "upstream" || o.name == "listen") continue;
    const std::string def = o.get(proxy_config{});
    if (def.empty() && o.type != option_type::flag) continue;  // no default to give back
    INFO(o.name);
    std::string value = o.type == option_type::flag ? "false" : "\"" + def + "\"";
    if (o.type == option_type::list) value = "[" + value + "]";
    const bool spawn_only = (o.modes & mode_any_upstream) == mode_command;
    const std::string text = std::string(R"({"listen": "127.0.0.1:0", )") +
                             (spawn_only ? R"("command": "x", )" : R"("upstream": "http://h/", )") +
                             "\"" + std::string(o.name) + "\": " + value + "}";
    CHECK_NOTHROW(parse(text));
  }
}

TEST_CASE("config file: server names and the per-server options") {
  CHECK(valid_server_name("github"));
  CHECK(valid_server_name("my-server_2.x"));
  CHECK_FALSE(valid_server_name(""));
  CHECK_FALSE(valid_server_name(".."));
  CHECK_FALSE(valid_server_name("a/b"));
  CHECK(per_server_option("max-sessions"));
  CHECK(per_server_option("request-timeout-ms"));
  CHECK_FALSE(per_server_option("listen"));
  CHECK_FALSE(per_server_option("allow-origin"));
  // Every per-server option is an option of the table.
  for (const char* name : {"max-sessions", "idle-timeout-ms", "request-timeout-ms",
                           "stream-buffer-bytes", "shutdown-grace-ms", "env", "cwd",
                           "upstream-transport", "upstream-header", "upstream-timeout-ms"})
    CHECK(find_option(name) != nullptr);
}
