// The C ABI used from C++ (tests/capi/test_capi.c covers C): failures deep
// inside the core come back as status codes with text, never as exceptions,
// and the last-error text is per thread.
#include <arpa/inet.h>
#include <mcpfwd/mcpfwd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>

namespace {
struct config_ptr {
  mcpfwd_config* p = nullptr;
  ~config_ptr() { mcpfwd_config_free(p); }
};
struct proxy_ptr {
  mcpfwd_proxy* p = nullptr;
  ~proxy_ptr() { mcpfwd_proxy_free(p); }
};
const char* const cat_argv[] = {"cat"};
}  // namespace

TEST_CASE("a port already in use fails start with an I/O status, not an exception",
          "[capi][http]") {
  // Hold a listening socket on a free port, then ask the proxy for it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);

  config_ptr cfg;
  REQUIRE(mcpfwd_config_new(&cfg.p) == MCPFWD_OK);
  REQUIRE(mcpfwd_config_set_listen(cfg.p, "127.0.0.1", ntohs(a.sin_port)) == MCPFWD_OK);
  REQUIRE(mcpfwd_config_set_upstream_command(cfg.p, 1, cat_argv) == MCPFWD_OK);
  REQUIRE(mcpfwd_config_set_log_level(cfg.p, MCPFWD_LOG_OFF) == MCPFWD_OK);
  proxy_ptr p;
  REQUIRE(mcpfwd_proxy_new(&p.p, cfg.p) == MCPFWD_OK);
  CHECK(mcpfwd_proxy_start(p.p) == MCPFWD_E_IO);
  CHECK(std::string(mcpfwd_last_error()).find("cannot listen") != std::string::npos);
  ::close(fd);
}

TEST_CASE("a listen address that is not an IP address is an invalid argument", "[capi][http]") {
  config_ptr cfg;
  REQUIRE(mcpfwd_config_new(&cfg.p) == MCPFWD_OK);
  REQUIRE(mcpfwd_config_set_listen(cfg.p, "not an address", 0) == MCPFWD_OK);
  REQUIRE(mcpfwd_config_set_upstream_command(cfg.p, 1, cat_argv) == MCPFWD_OK);
  proxy_ptr p;
  REQUIRE(mcpfwd_proxy_new(&p.p, cfg.p) == MCPFWD_OK);
  CHECK(mcpfwd_proxy_start(p.p) == MCPFWD_E_INVALID_ARG);
  CHECK(std::string(mcpfwd_last_error()).find("not an address") != std::string::npos);
}

TEST_CASE("the last error is per thread", "[capi]") {
  CHECK(mcpfwd_config_new(nullptr) == MCPFWD_E_INVALID_ARG);
  const std::string mine = mcpfwd_last_error();
  CHECK_FALSE(mine.empty());
  std::string theirs = "unset";
  std::thread([&] { theirs = mcpfwd_last_error(); }).join();
  CHECK(theirs.empty());
  CHECK(mine == mcpfwd_last_error());
}

TEST_CASE("every status has a description", "[capi]") {
  for (int s : {0, -1, -2, -3, -4, -5, -6, -7, -99}) {
    const char* d = mcpfwd_status_str(static_cast<mcpfwd_status>(s));
    REQUIRE(d != nullptr);
    CHECK(std::string(d) != "unknown status");
  }
}
