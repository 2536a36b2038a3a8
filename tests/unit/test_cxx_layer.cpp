// The header-only C++ layer (capi/include/mcpfwd/mcpfwd.hpp) over the shared
// library, as a C++ caller uses it: errors carry the library's status and
// text, the options are the C table's, and a proxy owns its handler, which is
// deleted exactly once, after the last callback, whether the proxy was made or
// not.
#include <unistd.h>
#include <mcpfwd/mcpfwd.hpp>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace cxx = mcpfwd::cxx;

namespace {

const std::vector<std::string> cat_argv = {"cat"};

// Counts its deletions and records what it saw.
struct recorder final : cxx::handler {
  explicit recorder(std::atomic<int>& deleted, bool refuse_messages = false,
                    bool throw_on_event = false)
      : deleted_(deleted), refuse_(refuse_messages), throw_(throw_on_event) {}
  ~recorder() override { ++deleted_; }

  bool on_event(const cxx::event& ev) override {
    std::lock_guard<std::mutex> lock(mu);
    events.emplace_back(std::to_string(ev.type) + " " + std::string(ev.session_id));
    if (throw_) throw std::runtime_error("a handler that throws");
    return true;
  }
  bool on_message(const cxx::message& m) override {
    std::lock_guard<std::mutex> lock(mu);
    messages.emplace_back(std::to_string(m.direction) + " " + std::string(m.session_id) + " " +
                          std::string(m.bytes));
    return !refuse_;
  }
  void on_log(mcpfwd_log_level, std::string_view, std::string_view) override {}

  std::mutex mu;
  std::vector<std::string> events, messages;

 private:
  std::atomic<int>& deleted_;
  bool refuse_, throw_;
};

// A pipe pair for a stdio client: the proxy reads to_proxy[0], writes from_proxy[1].
struct stdio_pipes {
  int to_proxy[2] = {-1, -1}, from_proxy[2] = {-1, -1};
  stdio_pipes() {
    REQUIRE(::pipe(to_proxy) == 0);
    REQUIRE(::pipe(from_proxy) == 0);
  }
  ~stdio_pipes() {
    for (int fd : {to_proxy[0], to_proxy[1], from_proxy[0], from_proxy[1]})
      if (fd >= 0) ::close(fd);
  }
  // The proxy dup()s its ends when it starts: ours go, so the client sees end of file.
  void close_proxy_ends() {
    for (int* fd : {&to_proxy[0], &from_proxy[1]}) {
      ::close(*fd);
      *fd = -1;
    }
  }
  void close_input() {
    ::close(to_proxy[1]);
    to_proxy[1] = -1;
  }
  std::string read_line() const {
    std::string line;
    char c = 0;
    while (::read(from_proxy[0], &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
};

cxx::config stdio_config(const stdio_pipes& io) {
  cxx::config cfg;
  cfg.set_downstream_stdio(io.to_proxy[0], io.from_proxy[1]);
  cfg.set_upstream_command(cat_argv);
  cfg.set("log-level", "off");
  return cfg;
}

}  // namespace

TEST_CASE("a refused option throws an error with the library's status and text", "[cxx][options]") {
  cxx::config cfg;
  try {
    cfg.set("max-sessions", "0");
    FAIL("max-sessions 0 accepted");
  } catch (const cxx::error& e) {
    CHECK(e.status() == MCPFWD_E_INVALID_ARG);
    CHECK(std::string(e.what()).find("--max-sessions must be at least 1") != std::string::npos);
  }
  try {
    cfg.set("no-such-option", "1");
    FAIL("an unknown option accepted");
  } catch (const cxx::error& e) {
    CHECK(e.status() == MCPFWD_E_INVALID_ARG);
    CHECK(std::string(e.what()).find("unknown option") != std::string::npos);
  }
  // A C string would stop at the NUL: "ab\0c" must not become "ab".
  try {
    cfg.set("auth-token", std::string_view("ab\0c", 4));
    FAIL("a value with a NUL byte accepted");
  } catch (const cxx::error& e) {
    CHECK(e.status() == MCPFWD_E_INVALID_ARG);
    CHECK(std::string(e.what()) == "--auth-token contains a NUL byte");
  }
  CHECK_THROWS_AS(cfg.set_upstream_command({"a", std::string("b\0c", 3)}), cxx::error);
  cfg.set("max-sessions", "5").set("listen", "127.0.0.1:0");  // chains
}

TEST_CASE("the options are the C table's, in its order", "[cxx][options]") {
  const std::vector<cxx::option> all = cxx::options();
  std::vector<std::string> c_names;
  for (const mcpfwd_option* o = mcpfwd_option_next(nullptr); o; o = mcpfwd_option_next(o))
    c_names.emplace_back(mcpfwd_option_name(o));
  REQUIRE(all.size() == c_names.size());
  REQUIRE(all.size() >= 30);
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].name() == c_names[i]);
    const std::optional<cxx::option> found = cxx::option::find(c_names[i]);
    REQUIRE(found);
    CHECK(found->get() == all[i].get());
    if (all[i].type() == MCPFWD_OPTION_CHOICE) {
      std::string joined;
      for (const std::string& c : all[i].choice_list()) joined += (joined.empty() ? "" : "|") + c;
      CHECK(joined == all[i].choices());
    } else {
      CHECK(all[i].choice_list().empty());
    }
  }
  CHECK_FALSE(cxx::option::find("no-such-option"));
  CHECK_FALSE(cxx::option::find(std::string_view("listen\0x", 8)));
}

TEST_CASE("capture turns what a call throws into a status and text", "[cxx]") {
  CHECK(cxx::capture([] {}).status == MCPFWD_OK);
  const cxx::result bad = cxx::capture([] { cxx::config().set("max-sessions", "0"); });
  CHECK(bad.status == MCPFWD_E_INVALID_ARG);
  CHECK(bad.message.find("--max-sessions") != std::string::npos);
  CHECK(cxx::capture([] { throw std::bad_alloc(); }).status == MCPFWD_E_NOMEM);
  const cxx::result odd = cxx::capture([] { throw std::logic_error("odd"); });
  CHECK(odd.status == MCPFWD_E_INTERNAL);
  CHECK(odd.message == "internal error: odd");
  CHECK(cxx::capture([] { throw 42; }).status == MCPFWD_E_INTERNAL);
}

TEST_CASE("a proxy that cannot be made deletes its handler before the error leaves",
          "[cxx][proxy]") {
  std::atomic<int> deleted{0};
  cxx::config cfg;  // no upstream
  cfg.set("listen", "127.0.0.1:0");
  try {
    cxx::proxy p(cfg, std::make_unique<recorder>(deleted), cxx::want_events);
    FAIL("a proxy without a downstream");
  } catch (const cxx::error& e) {
    CHECK(e.status() == MCPFWD_E_INVALID_ARG);
    CHECK(std::string(e.what()).find("no upstream configured") != std::string::npos);
  }
  CHECK(deleted == 1);
}

TEST_CASE("a stdio proxy's handler sees the messages and events, and is deleted once after",
          "[cxx][proxy]") {
  stdio_pipes io;
  std::atomic<int> deleted{0};
  auto owned = std::make_unique<recorder>(deleted);
  recorder* seen = owned.get();
  cxx::config cfg = stdio_config(io);
  cxx::proxy p(cfg, std::move(owned), cxx::want_events | cxx::want_messages | cxx::want_log);
  cxx::proxy moved = std::move(p);  // the handler goes with the handle
  CHECK_FALSE(p);
  REQUIRE(moved);
  moved.start();
  io.close_proxy_ends();
  CHECK_THROWS_AS(moved.start(), cxx::error);  // MCPFWD_E_STATE: already started
  CHECK(moved.url().empty());                  // stdio mode has no URL

  const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  REQUIRE(::write(io.to_proxy[1], (ping + "\n").data(), ping.size() + 1) ==
          static_cast<ssize_t>(ping.size() + 1));
  CHECK(io.read_line() == ping);  // cat echoes it: a server-to-client message
  CHECK(moved.stats_json().find(R"("id":"stdio")") != std::string::npos);
  CHECK_FALSE(moved.wait(0));  // still running
  io.close_input();
  REQUIRE(moved.wait(20000));
  {
    std::lock_guard<std::mutex> lock(seen->mu);
    CHECK(seen->messages == std::vector<std::string>{"1 stdio " + ping, "2 stdio " + ping});
    REQUIRE_FALSE(seen->events.empty());
    CHECK(seen->events.front() == "1 stdio");  // MCPFWD_EVENT_SESSION_OPENED
    CHECK(seen->events.back() == "2 stdio");   // MCPFWD_EVENT_SESSION_CLOSED
  }
  CHECK(deleted == 0);
  moved.reset();
  CHECK(deleted == 1);
  CHECK_FALSE(moved);
  moved.reset();  // empty: nothing happens
  CHECK(deleted == 1);
}

TEST_CASE("a handler refusing a message ends the session, one that throws counts as go on",
          "[cxx][proxy]") {
  stdio_pipes io;
  std::atomic<int> deleted{0};
  cxx::config cfg = stdio_config(io);
  cxx::proxy p(cfg,
               std::make_unique<recorder>(deleted, /*refuse_messages=*/true,
                                          /*throw_on_event=*/true),
               cxx::want_events | cxx::want_messages);
  p.start();  // the OPENED handler threw: the session goes on
  io.close_proxy_ends();
  const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"ping"})"
                           "\n";
  REQUIRE(::write(io.to_proxy[1], ping.data(), ping.size()) == static_cast<ssize_t>(ping.size()));
  // Dropped, and the session closed: the client sees end of file, never the echo.
  CHECK(io.read_line().empty());
  REQUIRE(p.wait(20000));
  p.reset();
  CHECK(deleted == 1);
}

TEST_CASE("one config makes two proxies, each owning its handler", "[cxx][proxy]") {
  stdio_pipes io;
  std::atomic<int> first{0}, second{0};
  cxx::config cfg = stdio_config(io);
  {
    cxx::proxy a(cfg, std::make_unique<recorder>(first), cxx::want_events);
    cxx::proxy b(cfg, std::make_unique<recorder>(second), cxx::want_messages);
    cxx::proxy c(cfg);  // no handler: the config kept none of theirs
    a.reset();
    CHECK(first == 1);
    CHECK(second == 0);
  }
  CHECK(first == 1);
  CHECK(second == 1);
}

TEST_CASE("an unknown session id, one with a NUL byte included, is not found", "[cxx][proxy]") {
  cxx::config cfg;
  cfg.set("listen", "127.0.0.1:0").set("io-threads", "1").set("log-level", "off");
  cfg.set_upstream_command(cat_argv);
  cxx::proxy p(cfg);
  p.start();
  CHECK(p.url().rfind("http://127.0.0.1:", 0) == 0);
  CHECK(p.sessions_json() == "[]");
  for (std::string_view id : {std::string_view("nope"), std::string_view("no\0pe", 5)}) {
    try {
      (void)p.session_json(id);
      FAIL("found a session");
    } catch (const cxx::error& e) {
      CHECK(e.status() == MCPFWD_E_NOT_FOUND);
    }
    CHECK_THROWS_AS(p.close_session(id), cxx::error);
  }
  p.stop();
  CHECK(p.wait(20000));
}
