// A complete stdio MCP proxy in C++ on libmcpfwd, through the header-only C++
// layer <mcpfwd/mcpfwd.hpp> (C++17): serves the client on this program's
// stdin/stdout, in front of the server command given as arguments. The C
// version is docs/examples/c/stdio_proxy.c.
//
//   c++ -std=c++17 stdio_proxy.cpp $(pkg-config --cflags --libs mcpfwd) -o stdio_proxy
//   ./stdio_proxy python my_server.py
#include <mcpfwd/mcpfwd.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {
// Log lines go to stderr, tagged with their source ("mcpfwd" or "server").
struct logger final : mcpfwd::cxx::handler {
  void on_log(mcpfwd_log_level level, std::string_view source, std::string_view text) override {
    std::fprintf(stderr, "[%.*s/%d] %.*s\n", static_cast<int>(source.size()), source.data(),
                 static_cast<int>(level), static_cast<int>(text.size()), text.data());
  }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SERVER_COMMAND [ARGS...]\n", argv[0]);
    return 2;
  }
  mcpfwd::cxx::proxy proxy;
  try {
    mcpfwd::cxx::config cfg;
    cfg.set_downstream_stdio(0, 1);
    cfg.set_upstream_command(std::vector<std::string>(argv + 1, argv + argc));
    proxy = mcpfwd::cxx::proxy(cfg, std::make_unique<logger>(), mcpfwd::cxx::want_log);
  } catch (const mcpfwd::cxx::error& e) {  // the config is freed here: the proxy has a copy
    std::fprintf(stderr, "config: %s\n", e.what());
    return 2;
  }
  try {
    proxy.start();
    // Runs until the client closes stdin (or the server exits).
    const int code = proxy.wait().value_or(70);
    std::fprintf(stderr, "stats: %s\n", proxy.stats_json().c_str());
    return code;  // ~proxy frees it (and the logger)
  } catch (const mcpfwd::cxx::error& e) {
    std::fprintf(stderr, "proxy: %s\n", e.what());
    return 70;
  }
}
