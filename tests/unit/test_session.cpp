// The session model (session_record) and the two session kinds, driven
// against an in-memory upstream (fake_upstream.hpp) on an io_context run by
// the test: no process, no socket. The stdio session's client is a pair of
// pipes. An HTTP session's exchanges (serve_post, serve_get, ...) write to a
// beast::tcp_stream, so they are not driven here: http_session_probe admits
// a POST's requests as serve_post does and the tests watch where the
// server's messages go; the HTTP I/O itself is tested end to end in
// tests/python.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <tuple>

#include "fake_upstream.hpp"
#include "session/http_session.hpp"
#include "session/session_record.hpp"
#include "session/stdio_session.hpp"

using namespace mcpfwd;
using namespace std::chrono_literals;
using test::fake_upstream;
using test::fake_upstream_control;

namespace mcpfwd {

// What serve_post does with a POST's body before it writes anything: the
// batch split, the requests admitted, the messages sent upstream.
struct http_session_probe {
  using waiter_ptr = http_session::waiter_ptr;

  static waiter_ptr post(http_session& s, std::string body, bool accept_sse, bool& admitted) {
    message msg;
    classify_error err;
    REQUIRE(classify(std::move(body), msg, err));
    auto w = std::make_shared<http_session::waiter>(s.strand_, s.cfg_.stream_buffer_bytes);
    w->accept_sse = accept_sse;
    std::vector<message> parts;
    if (msg.info.kind == message_kind::batch) {
      w->batch = true;
      REQUIRE(split_batch(msg, parts));
    } else {
      parts.push_back(std::move(msg));
    }
    admitted = s.admit_requests(w, parts);
    if (admitted)
      for (auto& m : parts)
        net::co_spawn(s.strand_, s.upstream_->send(std::move(m)), net::detached);
    return w;
  }
  static waiter_ptr post(http_session& s, std::string body, bool accept_sse = true) {
    bool admitted = false;
    auto w = post(s, std::move(body), accept_sse, admitted);
    REQUIRE(admitted);
    return w;
  }
  // The end of serve_post's exchange: its unanswered requests are cancelled.
  static void finish(http_session& s, const waiter_ptr& w, const char* cancel_reason) {
    s.forget(w, request_outcome::abandoned, cancel_reason);
  }
  static std::vector<std::string> queued(const waiter_ptr& w) { return {w->q.begin(), w->q.end()}; }
  // Server messages kept while no event stream is open.
  static std::vector<std::string> buffered(const http_session& s) {
    return {s.buffer_.begin(), s.buffer_.end()};
  }
};

}  // namespace mcpfwd

namespace {

using probe = http_session_probe;

template <class Pred>
bool run_until(net::io_context& ioc, Pred done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ioc.restart();
    ioc.run_one_for(10ms);
  }
  return true;
}

// Runs for `d`: to see that something does not happen.
void run_for(net::io_context& ioc, std::chrono::milliseconds d) {
  ioc.restart();
  ioc.run_for(d);
}

std::int64_t num(const json::value& v) {
  return v.to_number<std::int64_t>();
}

json::object parse_object(std::string_view text) {
  return json::parse(text).as_object();
}

// An error response's code and message.
std::pair<std::int64_t, std::string> error_of(std::string_view response) {
  const json::object o = parse_object(response);
  const json::object& e = o.at("error").as_object();
  return {num(e.at("code")), std::string(e.at("message").as_string())};
}

struct unique_fd {
  int fd = -1;
  unique_fd() = default;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Members in this order: the io_context goes first (and with it the
// session's coroutines, which hold the session), then what the session
// refers to.
struct fixture_base {
  proxy_config cfg;
  std::vector<std::string> logs;
  logger log{log_level::debug,
             [this](log_level, const char*, std::string_view t) { logs.emplace_back(t); }};
  std::shared_ptr<fake_upstream_control> up = std::make_shared<fake_upstream_control>();
  std::vector<std::tuple<event_kind, std::string, std::string>> events;
  proxy_metrics metrics;
  net::io_context ioc;

  fixture_base() {
    cfg.shutdown_grace = 50ms;
    cfg.on_event = [this](event_kind k, const std::string& id, const std::string& detail) {
      events.emplace_back(k, id, detail);
      return true;
    };
  }
  bool saw_event(event_kind k, const std::string& detail) const {
    for (const auto& [ek, id, d] : events)
      if (ek == k && d == detail) return true;
    return false;
  }
  bool upstream_sent(std::size_t n) {
    return run_until(ioc, [&] { return up->sent.size() >= n; });
  }
};

// A stdio session whose client is the test, through two pipes.
struct stdio_fixture : fixture_base {
  std::shared_ptr<stdio_session> s;
  unique_fd to_session, from_session;
  std::optional<int> exit_code;
  std::string end_reason;
  std::string partial;
  std::vector<std::string> got;  // the lines the client received
  bool client_eof = false;

  void start() {
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    to_session.fd = in[1];
    from_session.fd = out[0];
    REQUIRE(::fcntl(out[0], F_SETFL, O_NONBLOCK) == 0);
    s = std::make_shared<stdio_session>(ioc.get_executor(), fake_upstream::factory(up), in[0],
                                        out[1], cfg, log, metrics,
                                        [this](int code, const std::string& why) {
                                          exit_code = code;
                                          end_reason = why;
                                        });
    CHECK(s->current_state() == session_state::starting);
    s->start();
  }
  void client_sends(std::string line) {
    line += '\n';
    REQUIRE(::write(to_session.fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  }
  void client_closes() { to_session.reset(); }
  const std::vector<std::string>& received() {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(from_session.fd, buf, sizeof buf);
      if (n == 0) client_eof = true;
      if (n <= 0) break;
      partial.append(buf, static_cast<std::size_t>(n));
    }
    for (std::size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
      got.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
    return got;
  }
  bool client_got(std::size_t n) {
    return run_until(ioc, [&] { return received().size() >= n; });
  }
  bool closed() {
    return run_until(ioc, [&] { return s->current_state() == session_state::closed && exit_code; });
  }
  json::object snapshot() const { return parse_object(s->stats_json()); }
  std::uint32_t in_flight() const { return s->counters().in_flight.load(); }
};

struct http_fixture : fixture_base {
  std::shared_ptr<http_session> s;
  struct closed_call {
    std::string id, reason;
    bool finished;
  };
  std::vector<closed_call> closes;

  void start(session_transport t = session_transport::streamable_http) {
    s = std::make_shared<http_session>(
        net::make_strand(ioc.get_executor()), "0123abcd", t, fake_upstream::factory(up), cfg, log,
        metrics, [this](const std::string& id, const std::string& reason, bool finished) {
          closes.push_back({id, reason, finished});
        });
    CHECK(s->current_state() == session_state::starting);
    s->start();
    CHECK(s->current_state() == session_state::ready);
  }
  bool closed() {
    return run_until(ioc, [&] { return s->current_state() == session_state::closed; });
  }
  json::object snapshot() const { return parse_object(s->snapshot_json()); }
  std::uint32_t in_flight() const {
    return static_cast<std::uint32_t>(num(snapshot().at("in_flight")));
  }
};

// Whether `got` has the documented schema `want`: the same keys, and where
// both have a value other than null, the same JSON kind (any number goes
// with any number), object members recursively.
void check_schema(const json::value& want, const json::value& got, const std::string& path) {
  INFO(path);
  auto kind = [](const json::value& v) { return v.is_number() ? json::kind::double_ : v.kind(); };
  if (want.is_null() || got.is_null()) return;
  REQUIRE(kind(want) == kind(got));
  if (!want.is_object()) return;
  std::vector<std::string> wk, gk;
  for (const auto& kv : want.as_object()) wk.emplace_back(kv.key());
  for (const auto& kv : got.as_object()) gk.emplace_back(kv.key());
  std::sort(wk.begin(), wk.end());
  std::sort(gk.begin(), gk.end());
  CHECK(wk == gk);
  for (const auto& kv : want.as_object())
    if (const auto* g = got.as_object().if_contains(kv.key()))
      check_schema(kv.value(), *g, path + "." + std::string(kv.key()));
}

std::string read_doc(const std::string& rel) {
  std::ifstream f(std::string(MCPFWD_SOURCE_DIR) + "/" + rel);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The first ```json block after `marker` in a doc.
json::value doc_json_after(const std::string& doc, const std::string& marker) {
  auto at = doc.find(marker);
  REQUIRE(at != std::string::npos);
  at = doc.find("```json\n", at);
  REQUIRE(at != std::string::npos);
  at += 8;
  const auto end = doc.find("```", at);
  REQUIRE(end != std::string::npos);
  return json::parse(doc.substr(at, end - at));
}

}  // namespace

// ------------------------------------------------------------ session_record

TEST_CASE("session record: the four states and the two kinds have their documented names",
          "[session][record]") {
  CHECK(std::string(to_string(session_state::starting)) == "starting");
  CHECK(std::string(to_string(session_state::ready)) == "ready");
  CHECK(std::string(to_string(session_state::draining)) == "draining");
  CHECK(std::string(to_string(session_state::closed)) == "closed");
  CHECK(std::string(to_string(session_kind::stdio)) == "stdio");
  CHECK(std::string(to_string(session_kind::streamable_http)) == "streamable_http");
  CHECK(std::string(to_string(session_kind::legacy_sse)) == "legacy_sse");
}

TEST_CASE("session record: initialize is tracked until its answer gives the protocol version",
          "[session][record]") {
  proxy_config cfg;
  std::vector<std::string> ready;
  cfg.on_event = [&](event_kind k, const std::string& id, const std::string& detail) {
    if (k == event_kind::session_ready) ready.push_back(id + " " + detail);
    return true;
  };
  session_record rec("abc", session_kind::streamable_http, cfg);
  auto info = [](std::string raw) {
    message m;
    classify_error err;
    REQUIRE(classify(std::move(raw), m, err));
    return m;
  };
  CHECK(rec.protocol_version().empty());
  CHECK(parse_object(rec.snapshot_json({})).at("protocol_version") == "");

  rec.client_request(info(R"({"jsonrpc":"2.0","id":"i","method":"initialize","params":{}})").info);
  // An answer to another id changes nothing.
  auto other = info(R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"1999-01-01"}})");
  rec.server_answer(other.info, other.raw);
  CHECK(rec.protocol_version().empty());
  CHECK(ready.empty());

  auto answer = info(R"({"jsonrpc":"2.0","id":"i","result":{"protocolVersion":"2025-03-26"}})");
  rec.server_answer(answer.info, answer.raw);
  CHECK(rec.protocol_version() == "2025-03-26");
  CHECK(parse_object(rec.snapshot_json({})).at("protocol_version") == "2025-03-26");
  CHECK(ready == std::vector<std::string>{"abc 2025-03-26"});

  // Tracking ends with the answer: a second one is not taken for it.
  auto again = info(R"({"jsonrpc":"2.0","id":"i","result":{"protocolVersion":"2025-06-18"}})");
  rec.server_answer(again.info, again.raw);
  CHECK(rec.protocol_version() == "2025-03-26");

  SECTION("an error answer to initialize negotiates nothing") {
    session_record r2("def", session_kind::stdio, cfg);
    r2.client_request(info(R"({"jsonrpc":"2.0","id":5,"method":"initialize"})").info);
    auto err = info(R"({"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"no"}})");
    r2.server_answer(err.info, err.raw);
    CHECK(r2.protocol_version().empty());
    CHECK(ready.size() == 1);
  }
}

TEST_CASE("session record: errors is the sum of error_counts; idle needs no request in flight",
          "[session][record]") {
  proxy_config cfg;
  session_record rec("abc", session_kind::legacy_sse, cfg);
  session_counters& n = rec.counters();
  session_counters::add(n.parse);
  session_counters::add(n.invalid, 2);
  session_counters::add(n.oversize, 3);
  session_counters::add(n.server_invalid, 4);
  session_counters::add(n.server_oversize, 5);
  session_counters::add(n.timeouts, 6);
  session_counters::add(n.dropped, 100);        // not an error
  session_counters::add(n.proxy_replies, 100);  // not an error
  const json::object o = parse_object(rec.snapshot_json({}));
  CHECK(num(o.at("errors")) == 21);
  const json::object& ec = o.at("error_counts").as_object();
  CHECK(num(ec.at("parse")) == 1);
  CHECK(num(ec.at("timeouts")) == 6);
  CHECK(num(o.at("dropped")) == 100);

  CHECK(rec.idle_for(0ms));
  n.in_flight.store(1);
  CHECK_FALSE(rec.idle_for(0ms));
  n.in_flight.store(0);
  n.open_streams.store(1);
  CHECK_FALSE(rec.idle_for(0ms));
  n.open_streams.store(0);
  CHECK_FALSE(rec.idle_for(1h));
}

TEST_CASE("session record: upstream_exit shows once closed; exit_code only for stdio",
          "[session][record]") {
  proxy_config cfg;
  session_record rec("stdio", session_kind::stdio, cfg);
  rec.ended("exited with status 3", 3);
  json::object o = parse_object(rec.snapshot_json({{"kind", "stdio"}, {"pid", 42}}));
  CHECK(o.at("upstream_exit").is_null());  // not closed yet
  CHECK(num(o.at("upstream_pid")) == 42);
  rec.set_state(session_state::closed);
  o = parse_object(rec.snapshot_json({{"kind", "stdio"}, {"pid", 42}}));
  CHECK(o.at("state") == "closed");
  CHECK(o.at("upstream_exit") == "exited with status 3");
  CHECK(num(o.at("exit_code")) == 3);

  session_record http("x", session_kind::streamable_http, cfg);
  http.ended("ended", 1);
  http.set_state(session_state::closed);
  o = parse_object(http.snapshot_json({{"kind", "http"}, {"url", "http://h/mcp"}}));
  CHECK(o.at("upstream_pid").is_null());  // a remote upstream has none
  CHECK(o.at("exit_code").is_null());
  CHECK(o.at("upstream_exit") == "ended");
}

TEST_CASE("session record: the message hook sees each message and can abort", "[session][record]") {
  proxy_config cfg;
  session_record rec("abc", session_kind::stdio, cfg);
  CHECK(rec.hook(direction::client_to_server, "{}"));  // no hook: go on
  std::vector<std::string> seen;
  cfg.on_message = [&](direction d, const std::string& id, std::string_view raw) {
    seen.push_back(id + (d == direction::client_to_server ? " > " : " < ") + std::string(raw));
    return raw != "stop";
  };
  CHECK(rec.hook(direction::server_to_client, "hello"));
  CHECK_FALSE(rec.hook(direction::client_to_server, "stop"));
  CHECK(seen == std::vector<std::string>{"abc < hello", "abc > stop"});
}

// ------------------------------------------------------------ snapshot schema

TEST_CASE("snapshot: every session kind has the schema docs/c-api.md and docs/stdio.md show",
          "[session][snapshot][docs]") {
  const json::value documented =
      doc_json_after(read_doc("docs/c-api.md"), "A session object: one schema");

  SECTION("a Streamable HTTP session, and a legacy SSE one") {
    for (auto t : {session_transport::streamable_http, session_transport::legacy_sse}) {
      http_fixture f;
      f.up->description = {{"kind", "stdio"}, {"pid", 7511}};
      f.start(t);
      const json::object o = f.snapshot();
      check_schema(documented, o, "session");
      CHECK(o.at("kind") ==
            (t == session_transport::legacy_sse ? "legacy_sse" : "streamable_http"));
      CHECK(o.at("id") == "0123abcd");
      CHECK(o.at("state") == "ready");
      CHECK(num(o.at("upstream_pid")) == 7511);
      CHECK(o.at("upstream") == json::value({{"kind", "stdio"}, {"pid", 7511}}));
    }
  }
  SECTION("the stdio session, running and closed (docs/stdio.md's example)") {
    stdio_fixture f;
    f.up->description = {{"kind", "stdio"}, {"pid", 4242}};
    f.start();
    check_schema(documented, f.snapshot(), "stdio");
    CHECK(f.snapshot().at("id") == "stdio");
    CHECK(f.snapshot().at("kind") == "stdio");

    f.client_closes();
    REQUIRE(f.closed());
    const std::string stdio_doc = read_doc("docs/stdio.md");
    const std::string prefix = "mcpfwd: info: session stats: ";
    auto at = stdio_doc.find(prefix);
    REQUIRE(at != std::string::npos);
    at += prefix.size();
    const json::value closed_doc =
        json::parse(stdio_doc.substr(at, stdio_doc.find("```", at) - at));
    const json::object o = f.snapshot();
    check_schema(closed_doc, o, "stdio closed");
    CHECK(o.at("upstream_exit") == "exited with status 0");
    CHECK(num(o.at("exit_code")) == 0);
  }
}

// ------------------------------------------------------------ stdio session

TEST_CASE("stdio session: ready once started, draining when the client ends, closed once reaped",
          "[session][stdio]") {
  stdio_fixture f;
  f.start();
  CHECK(f.s->current_state() == session_state::ready);
  CHECK(f.up->started());
  REQUIRE(run_until(f.ioc, [&] { return f.saw_event(event_kind::session_opened, ""); }));

  SECTION("the upstream ends when stopped") {
    f.client_closes();
    REQUIRE(f.closed());
    CHECK(f.up->stops == 1);
    CHECK(f.up->stop_grace == f.cfg.shutdown_grace);
    CHECK(f.up->closes == 1);
    CHECK(*f.exit_code == 0);  // the client ended the session
    CHECK(f.end_reason == "client closed its input");
    CHECK(f.saw_event(event_kind::session_closed, "client closed its input"));
    REQUIRE(run_until(f.ioc, [&] {
      f.received();
      return f.client_eof;
    }));
  }
  SECTION("an upstream that does not end keeps the session draining") {
    f.up->hang = true;
    f.client_closes();
    REQUIRE(run_until(f.ioc, [&] { return f.up->stops == 1; }));
    run_for(f.ioc, 100ms);
    CHECK(f.s->current_state() == session_state::draining);
    CHECK(f.snapshot().at("state") == "draining");
    CHECK_FALSE(f.exit_code);
    f.up->end(fake_upstream_control::exited(0));
    REQUIRE(f.closed());
    CHECK(*f.exit_code == 0);
  }
  SECTION("stop() drains the same way") {
    f.s->stop();
    f.s->stop();  // idempotent
    REQUIRE(f.closed());
    CHECK(f.up->stops == 1);
    CHECK(f.end_reason == "stop requested");
  }
}

TEST_CASE("stdio session: initialize is forwarded and its answer gives the protocol version",
          "[session][stdio]") {
  stdio_fixture f;
  f.start();
  const std::string init =
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26"}})";
  f.client_sends(init);
  REQUIRE(f.upstream_sent(1));
  CHECK(f.up->sent[0] == init);
  CHECK(f.in_flight() == 1);
  CHECK(f.snapshot().at("protocol_version") == "");

  const std::string answer =
      R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-03-26","capabilities":{}}})";
  f.up->server_says(answer);
  REQUIRE(f.client_got(1));
  CHECK(f.got[0] == answer);  // the bytes, unchanged
  CHECK(f.in_flight() == 0);
  const json::object o = f.snapshot();
  CHECK(o.at("protocol_version") == "2025-03-26");
  CHECK(num(o.at("client_to_server").at("messages")) == 1);
  CHECK(num(o.at("client_to_server").at("bytes")) == static_cast<std::int64_t>(init.size() + 1));
  CHECK(num(o.at("server_to_client").at("messages")) == 1);
  CHECK(num(o.at("server_to_client").at("bytes")) == static_cast<std::int64_t>(answer.size() + 1));
  CHECK(f.saw_event(event_kind::session_ready, "2025-03-26"));
}

TEST_CASE(
    "stdio session: in_flight counts requests until answered, and the upstream's end "
    "answers the rest with an error naming it",
    "[session][stdio]") {
  stdio_fixture f;
  f.start();
  f.client_sends(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}})");
  f.client_sends(R"({"jsonrpc":"2.0","id":"two","method":"tools/list"})");
  f.client_sends(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  REQUIRE(f.upstream_sent(3));
  CHECK(f.in_flight() == 2);  // the notification is not in flight
  CHECK(num(f.snapshot().at("in_flight")) == 2);

  f.up->server_says(R"({"jsonrpc":"2.0","id":"two","result":{"tools":[]}})");
  REQUIRE(f.client_got(1));
  CHECK(f.in_flight() == 1);
  // An answer to no request is forwarded, and counts nothing.
  f.up->server_says(R"({"jsonrpc":"2.0","id":99,"result":{}})");
  REQUIRE(f.client_got(2));
  CHECK(f.in_flight() == 1);

  f.up->end(fake_upstream_control::exited(3));
  REQUIRE(f.closed());
  REQUIRE(f.client_got(3));
  const auto [code, text] = error_of(f.got[2]);
  CHECK(parse_object(f.got[2]).at("id") == 1);
  CHECK(code == rpc_error::upstream_error);
  CHECK(text == "upstream server exited with status 3 before responding");
  CHECK(f.in_flight() == 0);
  CHECK(*f.exit_code == 3);  // the server ended first: its status
  CHECK(f.end_reason == "upstream server exited with status 3");
  CHECK(f.saw_event(event_kind::session_closed, "upstream server exited with status 3"));
  const json::object o = f.snapshot();
  CHECK(o.at("state") == "closed");
  CHECK(o.at("upstream_exit") == "exited with status 3");
  CHECK(num(o.at("exit_code")) == 3);
  CHECK(num(o.at("proxy_replies")) == 1);
  CHECK(num(o.at("in_flight")) == 0);
}

TEST_CASE("stdio session: a request whose id is in flight is refused; the id is free once answered",
          "[session][stdio]") {
  stdio_fixture f;
  f.start();
  const std::string first = R"({"jsonrpc":"2.0","id":7,"method":"ping"})";
  f.client_sends(first);
  f.client_sends(R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})");
  f.client_sends(R"({"jsonrpc":"2.0","id":"7","method":"ping"})");  // another id: "7" is not 7
  REQUIRE(f.client_got(1));
  const auto [code, text] = error_of(f.got[0]);
  CHECK(parse_object(f.got[0]).at("id") == 7);
  CHECK(code == rpc_error::invalid_request);
  CHECK(text == "Invalid Request: id 7 is already in use by a request in flight");
  REQUIRE(f.upstream_sent(2));
  CHECK(f.up->sent ==
        std::vector<std::string>{first, R"({"jsonrpc":"2.0","id":"7","method":"ping"})"});
  CHECK(f.in_flight() == 2);
  json::object o = f.snapshot();
  CHECK(num(o.at("error_counts").at("invalid")) == 1);
  CHECK(num(o.at("errors")) == 1);
  CHECK(num(o.at("proxy_replies")) == 1);

  f.up->server_says(R"({"jsonrpc":"2.0","id":7,"result":{}})");
  REQUIRE(f.client_got(2));
  CHECK(f.in_flight() == 1);
  f.client_sends(first);
  REQUIRE(f.upstream_sent(3));
  CHECK(f.in_flight() == 2);
}

TEST_CASE(
    "stdio session: a batch goes upstream message by message and its answers come back as "
    "one batch",
    "[session][stdio][batch]") {
  stdio_fixture f;
  f.start();

  SECTION("answers are gathered in the order they arrive") {
    f.client_sends(R"([{"jsonrpc":"2.0","id":1,"method":"a"},)"
                   R"({"jsonrpc":"2.0","method":"notifications/n"},)"
                   R"({"jsonrpc":"2.0","id":2,"method":"b"}])");
    REQUIRE(f.upstream_sent(3));
    CHECK(parse_object(f.up->sent[0]).at("id") == 1);
    CHECK(parse_object(f.up->sent[1]).at("method") == "notifications/n");
    CHECK(parse_object(f.up->sent[2]).at("id") == 2);
    CHECK(f.in_flight() == 2);
    CHECK(num(f.snapshot().at("client_to_server").at("messages")) == 1);  // one line

    f.up->server_says(R"({"jsonrpc":"2.0","id":2,"result":"b"})");
    run_for(f.ioc, 50ms);
    CHECK(f.received().empty());  // held until the batch is whole
    CHECK(f.in_flight() == 1);
    f.up->server_says(R"({"jsonrpc":"2.0","id":1,"result":"a"})");
    REQUIRE(f.client_got(1));
    CHECK(json::parse(f.got[0]) == json::parse(R"([{"jsonrpc":"2.0","id":2,"result":"b"},)"
                                               R"({"jsonrpc":"2.0","id":1,"result":"a"}])"));
    CHECK(f.in_flight() == 0);
    CHECK(num(f.snapshot().at("server_to_client").at("messages")) == 1);
  }
  SECTION("a refused element is answered in the batch; a batch of refusals at once") {
    f.client_sends(R"({"jsonrpc":"2.0","id":5,"method":"a"})");
    f.client_sends(
        R"([{"jsonrpc":"2.0","id":5,"method":"a"},{"jsonrpc":"2.0","id":6,"method":"b"}])");
    REQUIRE(f.upstream_sent(2));
    CHECK(parse_object(f.up->sent[1]).at("id") == 6);
    f.up->server_says(R"({"jsonrpc":"2.0","id":6,"result":6})");
    REQUIRE(f.client_got(1));
    const json::array batch = json::parse(f.got[0]).as_array();
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].at("id") == 5);
    CHECK(num(batch[0].at("error").at("code")) == rpc_error::invalid_request);
    CHECK(batch[1].at("result") == 6);

    f.client_sends(R"([{"jsonrpc":"2.0","id":5,"method":"a"}])");
    REQUIRE(f.client_got(2));
    CHECK(num(json::parse(f.got[1]).as_array().at(0).at("error").at("code")) ==
          rpc_error::invalid_request);
    CHECK(f.up->sent.size() == 2);
  }
  SECTION("the upstream's end answers the batch's pending requests inside the batch") {
    f.client_sends(
        R"([{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":2,"method":"b"}])");
    REQUIRE(f.upstream_sent(2));
    f.up->server_says(R"({"jsonrpc":"2.0","id":1,"result":1})");
    f.up->end(fake_upstream_control::exited(0));
    REQUIRE(f.closed());
    REQUIRE(f.client_got(1));
    const json::array batch = json::parse(f.got[0]).as_array();
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].at("result") == 1);
    CHECK(batch[1].at("error").at("message") ==
          "upstream server exited with status 0 before responding");
    CHECK(*f.exit_code == 1);  // the server ended first, with 0: the proxy reports 1
  }
  SECTION("over --max-batch, or after 2025-06-18 negotiated, a batch is refused whole") {
    f.cfg.max_batch = 2;
    f.client_sends(R"([{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"},)"
                   R"({"jsonrpc":"2.0","method":"c"}])");
    REQUIRE(f.client_got(1));
    CHECK(error_of(f.got[0]).second ==
          "Invalid Request: a batch of 3 messages is over the limit of 2 (--max-batch)");
    CHECK(parse_object(f.got[0]).at("id").is_null());

    f.client_sends(R"({"jsonrpc":"2.0","id":0,"method":"initialize"})");
    REQUIRE(f.upstream_sent(1));
    f.up->server_says(R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}})");
    REQUIRE(f.client_got(2));
    f.client_sends(R"([{"jsonrpc":"2.0","method":"a"}])");
    REQUIRE(f.client_got(3));
    CHECK(error_of(f.got[2]).second ==
          "Invalid Request: protocol version 2025-06-18 has no JSON-RPC batches (removed in "
          "2025-06-18)");
    CHECK(f.up->sent.size() == 1);
    CHECK(num(f.snapshot().at("error_counts").at("invalid")) == 2);
  }
}

TEST_CASE("stdio session: progress notifications and server requests reach the client unchanged",
          "[session][stdio]") {
  stdio_fixture f;
  f.start();
  f.client_sends(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":"t1"}}})");
  REQUIRE(f.upstream_sent(1));
  const std::string progress =
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t1","progress":1}})";
  const std::string sampling = R"({"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage"})";
  f.up->server_says(progress);
  f.up->server_says(sampling);
  REQUIRE(f.client_got(2));
  CHECK(f.got[0] == progress);
  CHECK(f.got[1] == sampling);
  CHECK(f.in_flight() == 1);  // the tool call is still in flight
  // The client's answer to the server's request goes upstream, not in flight.
  f.client_sends(R"({"jsonrpc":"2.0","id":"s1","result":{}})");
  REQUIRE(f.upstream_sent(2));
  CHECK(f.in_flight() == 1);
}

TEST_CASE("stdio session: bad input either way is counted, and the client's is answered",
          "[session][stdio]") {
  stdio_fixture f;
  f.start();
  f.client_sends("{not json");
  f.client_sends(R"({"jsonrpc":"1.0","id":3,"method":"x"})");
  REQUIRE(f.client_got(2));
  CHECK(error_of(f.got[0]).first == rpc_error::parse_error);
  CHECK(error_of(f.got[1]).first == rpc_error::invalid_request);
  f.up->server_garbles("hello, world");
  f.up->server_oversize();
  REQUIRE(run_until(f.ioc, [&] { return f.s->counters().server_oversize.load() == 1; }));
  const json::object o = f.snapshot();
  const json::object& ec = o.at("error_counts").as_object();
  CHECK(num(ec.at("parse")) == 1);
  CHECK(num(ec.at("invalid")) == 1);
  CHECK(num(ec.at("server_invalid")) == 1);
  CHECK(num(ec.at("server_oversize")) == 1);
  CHECK(num(o.at("errors")) == 4);
  CHECK(num(o.at("proxy_replies")) == 2);
  CHECK(f.up->sent.empty());
  CHECK(f.s->current_state() == session_state::ready);  // bad input does not end a session
}

TEST_CASE("stdio session: a message hook returning false ends the session", "[session][stdio]") {
  stdio_fixture f;
  f.cfg.on_message = [](direction d, const std::string&, std::string_view) {
    return d == direction::client_to_server;
  };
  f.start();
  f.client_sends(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  REQUIRE(f.upstream_sent(1));
  f.up->server_says(R"({"jsonrpc":"2.0","id":1,"result":{}})");
  REQUIRE(f.closed());
  CHECK(f.end_reason == "session aborted by the message callback");
  CHECK(*f.exit_code == 0);
  // The answer the hook refused is not delivered; the request it answered
  // is answered by the proxy instead.
  REQUIRE(f.client_got(1));
  CHECK(error_of(f.got[0]).first == rpc_error::upstream_error);
}

// ------------------------------------------------------------ HTTP session

TEST_CASE("http session: ready once started; close() drains it and it is closed once reaped",
          "[session][http]") {
  http_fixture f;
  f.start();
  REQUIRE(run_until(f.ioc, [&] { return f.up->started(); }));

  SECTION("the upstream ends when stopped") {
    f.s->close(close_cause::client_delete, "session deleted by the client");
    REQUIRE(f.closed());
    REQUIRE(f.closes.size() == 2);
    CHECK(f.closes[0].id == "0123abcd");
    CHECK(f.closes[0].reason == "session deleted by the client");
    CHECK_FALSE(f.closes[0].finished);  // first: stop routing its id
    CHECK(f.closes[1].finished);        // then: upstream reaped
    CHECK(f.up->stops == 1);
    CHECK(f.up->closes == 1);
    const json::object o = f.snapshot();
    CHECK(o.at("upstream_exit") == "exited with status 0");
    CHECK(o.at("exit_code").is_null());
  }
  SECTION("an upstream that does not end keeps the session draining") {
    f.up->hang = true;
    f.s->close(close_cause::operator_kill, "x");
    f.s->close(close_cause::operator_kill, "y");  // idempotent
    REQUIRE(run_until(f.ioc, [&] { return f.closes.size() == 1; }));
    run_for(f.ioc, 100ms);
    CHECK(f.s->current_state() == session_state::draining);
    CHECK(f.closes.size() == 1);
    CHECK(f.up->stops == 1);
    f.up->end(fake_upstream_control::exited(0));
    REQUIRE(f.closed());
    CHECK(f.closes.size() == 2);
    CHECK(f.closes[1].reason == "x");
  }
  SECTION("drain() with nothing in flight closes at once") {
    f.s->drain(10s);
    REQUIRE(f.closed());
    CHECK(f.closes[0].reason == "proxy shutting down");
  }
  SECTION("the upstream ending by itself closes the session, naming how it ended") {
    f.up->end(fake_upstream_control::exited(3));
    REQUIRE(f.closed());
    REQUIRE(f.closes.size() == 2);
    CHECK(f.closes[0].reason == "upstream server exited with status 3 before responding");
    CHECK(f.snapshot().at("upstream_exit") == "exited with status 3");
  }
}

TEST_CASE(
    "http session: a POST's requests are in flight until answered; a batch's answers are "
    "gathered in arrival order",
    "[session][http][batch]") {
  http_fixture f;
  f.start();
  auto w = probe::post(*f.s, R"([{"jsonrpc":"2.0","id":1,"method":"a"},)"
                             R"({"jsonrpc":"2.0","method":"notifications/n"},)"
                             R"({"jsonrpc":"2.0","id":2,"method":"b"}])");
  REQUIRE(f.upstream_sent(3));
  CHECK(f.in_flight() == 2);
  CHECK(w->pending == 2);
  CHECK_FALSE(f.s->idle_for(0ms));

  f.up->server_says(R"({"jsonrpc":"2.0","id":2,"result":"b"})");
  REQUIRE(run_until(f.ioc, [&] { return w->pending == 1; }));
  CHECK(f.in_flight() == 1);
  // A server batch is split: each answer goes where it belongs.
  f.up->server_says(
      R"([{"jsonrpc":"2.0","id":1,"result":"a"},{"jsonrpc":"2.0","id":42,"result":0}])");
  REQUIRE(run_until(f.ioc, [&] { return w->pending == 0; }));
  CHECK(w->responses == std::vector<std::string>{R"({"jsonrpc":"2.0","id":2,"result":"b"})",
                                                 R"({"jsonrpc":"2.0","id":1,"result":"a"})"});
  CHECK(f.in_flight() == 0);
  probe::finish(*f.s, w, "timed out in mcpfwd");
  CHECK(f.up->sent_now.empty());  // nothing left to cancel
  CHECK(f.s->idle_for(0ms));
}

TEST_CASE(
    "http session: each client request ends counted by method and outcome, with its duration; "
    "the session's close by its cause, its upstream's exit by class",
    "[session][http][metrics]") {
  http_fixture f;
  f.start();
  auto w = probe::post(*f.s, R"([{"jsonrpc":"2.0","id":1,"method":"tools/call"},)"
                             R"({"jsonrpc":"2.0","id":2,"method":"prompts/get"},)"
                             R"({"jsonrpc":"2.0","id":3,"method":"x/unknown"},)"
                             R"({"jsonrpc":"2.0","method":"notifications/n"},)"
                             R"({"jsonrpc":"2.0","id":4,"method":"ping"}])");
  REQUIRE(f.upstream_sent(5));
  f.up->server_says(R"({"jsonrpc":"2.0","id":1,"result":{}})");
  f.up->server_says(R"({"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"no"}})");
  REQUIRE(run_until(f.ioc, [&] { return w->pending == 2; }));
  const proxy_metrics& m = f.metrics;
  auto n = [&](std::string_view method, request_outcome o) {
    return read(m.requests[method_index(method)][static_cast<std::size_t>(o)]);
  };
  auto observed = [&](std::string_view method) {
    std::uint64_t c = 0;
    for (const auto& b : m.latency[method_index(method)].buckets) c += read(b);
    return c;
  };
  CHECK(n("tools/call", request_outcome::ok) == 1);
  CHECK(n("prompts/get", request_outcome::error) == 1);
  CHECK(observed("tools/call") == 1);
  CHECK(observed("prompts/get") == 1);
  CHECK(observed("other") == 0);
  // The session ends with two requests unanswered: closed, each counted once.
  f.s->close(close_cause::operator_kill, "session closed by the operator");
  REQUIRE(f.closed());
  CHECK(n("other", request_outcome::closed) == 1);  // x/unknown: not an MCP method
  CHECK(n("ping", request_outcome::closed) == 1);
  CHECK(observed("other") == 1);
  CHECK(observed("ping") == 1);
  probe::finish(*f.s, w, nullptr);  // already ended: not counted again
  CHECK(observed("ping") == 1);
  std::uint64_t all = 0;
  for (const auto& by_outcome : m.requests)
    for (const auto& c : by_outcome) all += read(c);
  CHECK(all == 4);  // the notification is not a request
  CHECK(read(m.sessions_closed[static_cast<std::size_t>(close_cause::operator_kill)]) == 1);
  std::uint64_t closes = 0;
  for (const auto& c : m.sessions_closed) closes += read(c);
  CHECK(closes == 1);
  CHECK(read(m.upstream_exits[static_cast<std::size_t>(exit_class::exit_zero)]) == 1);
}

TEST_CASE("metrics: methods, exit classes and histogram buckets", "[metrics]") {
  CHECK(metric_methods().size() == method_count);
  CHECK(metric_methods()[method_index("tools/call")] == "tools/call");
  CHECK(metric_methods()[method_index("")] == "other");
  CHECK(metric_methods()[method_index("tools/call/x")] == "other");
  CHECK(classify_exit(-1) == exit_class::remote);
  CHECK(classify_exit(0) == exit_class::exit_zero);
  CHECK(classify_exit(3 << 8) == exit_class::exit_nonzero);
  CHECK(classify_exit(9) == exit_class::signal);  // killed by SIGKILL
  latency_histogram h;
  h.observe(std::chrono::milliseconds(5));     // on a bound: in that bucket (le is <=)
  h.observe(std::chrono::microseconds(5001));  // just above: the next
  h.observe(std::chrono::hours(1));            // +Inf
  CHECK(read(h.buckets[0]) == 1);
  CHECK(read(h.buckets[1]) == 1);
  CHECK(read(h.buckets.back()) == 1);
  CHECK(read(h.sum_us) == 5000 + 5001 + 3600000000ull);
}

TEST_CASE("http session: a request whose id is in flight is refused", "[session][http]") {
  http_fixture f;
  f.start();
  auto w1 = probe::post(*f.s, R"({"jsonrpc":"2.0","id":7,"method":"a"})");
  REQUIRE(f.upstream_sent(1));

  bool admitted = true;
  auto w2 = probe::post(*f.s, R"({"jsonrpc":"2.0","id":7,"method":"b"})", true, admitted);
  CHECK_FALSE(admitted);
  REQUIRE(w2->responses.size() == 1);
  CHECK(error_of(w2->responses[0]) ==
        std::pair<std::int64_t, std::string>{
            rpc_error::invalid_request,
            "Invalid Request: id 7 is already in use by a request in flight"});

  // In a batch: the element is refused, the others go on; likewise an id
  // repeated within the batch.
  auto w3 = probe::post(
      *f.s, R"([{"jsonrpc":"2.0","id":7,"method":"a"},{"jsonrpc":"2.0","id":8,"method":"b"},)"
            R"({"jsonrpc":"2.0","id":8,"method":"c"}])");
  REQUIRE(f.upstream_sent(2));
  run_for(f.ioc, 20ms);
  CHECK(f.up->sent.size() == 2);
  CHECK(w3->pending == 1);
  CHECK(w3->responses.size() == 2);
  CHECK(f.in_flight() == 2);
  CHECK(num(f.snapshot().at("error_counts").at("invalid")) == 3);

  f.up->server_says(R"({"jsonrpc":"2.0","id":7,"result":{}})");
  REQUIRE(run_until(f.ioc, [&] { return w1->pending == 0; }));
  CHECK(f.in_flight() == 1);
  probe::finish(*f.s, w1, nullptr);
  auto w4 = probe::post(*f.s, R"({"jsonrpc":"2.0","id":7,"method":"again"})");
  CHECK(w4->pending == 1);
}

TEST_CASE(
    "http session: server messages go to the POST of their progress token, else the newest "
    "POST, else the event stream's buffer",
    "[session][http][progress]") {
  http_fixture f;
  f.start();
  auto wa = probe::post(
      *f.s,
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":"a"}}})");
  auto wb = probe::post(
      *f.s,
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"_meta":{"progressToken":7}}})");
  const std::string pa =
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"a","progress":1}})";
  const std::string pb =
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}})";
  const std::string other = R"({"jsonrpc":"2.0","method":"notifications/message","params":{}})";
  const std::string unknown =
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"zz"}})";
  f.up->server_says(pa);
  f.up->server_says(pb);
  f.up->server_says(other);
  f.up->server_says(unknown);
  REQUIRE(run_until(f.ioc, [&] { return probe::queued(wb).size() == 3; }));
  CHECK(probe::queued(wa) == std::vector<std::string>{pa});
  CHECK(probe::queued(wb) == std::vector<std::string>{pb, other, unknown});
  CHECK(probe::buffered(*f.s).empty());

  // A POST that does not take a stream gets none: to the event stream (none
  // open: its buffer).
  auto wc = probe::post(*f.s, R"({"jsonrpc":"2.0","id":3,"method":"x"})", false);
  f.up->server_says(other);
  REQUIRE(run_until(f.ioc, [&] { return probe::buffered(*f.s).size() == 1; }));
  CHECK(probe::queued(wc).empty());

  // The token's POST has ended: its token routes nowhere any more.
  probe::finish(*f.s, wa, "the client went away");
  REQUIRE(f.up->sent_now.size() == 1);
  CHECK(parse_object(f.up->sent_now[0]) ==
        json::parse(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                    R"("params":{"requestId":1,"reason":"the client went away"}})"));
  f.up->server_says(pa);
  REQUIRE(run_until(f.ioc, [&] { return probe::buffered(*f.s).size() == 2; }));
  CHECK(probe::queued(wa) == std::vector<std::string>{pa});
  CHECK(f.in_flight() == 2);
}

TEST_CASE("http session: a legacy SSE session sends every server message to its event stream",
          "[session][http][legacy]") {
  http_fixture f;
  f.start(session_transport::legacy_sse);
  CHECK(f.snapshot().at("kind") == "legacy_sse");
  f.up->server_says(R"({"jsonrpc":"2.0","id":1,"result":{}})");
  f.up->server_says(R"({"jsonrpc":"2.0","method":"notifications/message"})");
  REQUIRE(run_until(f.ioc, [&] { return probe::buffered(*f.s).size() == 2; }));
}

TEST_CASE(
    "http session: with no stream open, server messages are kept up to "
    "--stream-buffer-bytes, the oldest dropped and counted",
    "[session][http]") {
  http_fixture f;
  f.cfg.stream_buffer_bytes = 1024;
  f.start();
  const std::string pad(250, 'x');  // ~300 bytes a message: 3 fit
  for (int i = 0; i < 5; ++i)
    f.up->server_says(R"({"jsonrpc":"2.0","method":"n","params":{"i":)" + std::to_string(i) +
                      R"(,"pad":")" + pad + "\"}}");
  REQUIRE(run_until(f.ioc, [&] { return num(f.snapshot().at("dropped")) == 2; }));
  const auto kept = probe::buffered(*f.s);
  REQUIRE(kept.size() == 3);
  CHECK(num(parse_object(kept[0]).at("params").at("i")) == 2);
}

TEST_CASE(
    "http session: the upstream's end answers every request in flight with an error "
    "naming it",
    "[session][http]") {
  http_fixture f;
  f.start();
  auto w1 = probe::post(*f.s, R"({"jsonrpc":"2.0","id":1,"method":"a"})");
  auto w2 = probe::post(
      *f.s, R"([{"jsonrpc":"2.0","id":2,"method":"b"},{"jsonrpc":"2.0","id":3,"method":"c"}])");
  REQUIRE(f.upstream_sent(3));
  CHECK(f.in_flight() == 3);
  f.up->server_says(R"({"jsonrpc":"2.0","id":3,"result":3})");
  f.up->end(fake_upstream_control::exited(3));
  REQUIRE(f.closed());
  const std::string why = "upstream server exited with status 3 before responding";
  REQUIRE(w1->responses.size() == 1);
  CHECK(error_of(w1->responses[0]) ==
        std::pair<std::int64_t, std::string>{rpc_error::upstream_error, why});
  REQUIRE(w2->responses.size() == 2);
  CHECK(w2->responses[0] == R"({"jsonrpc":"2.0","id":3,"result":3})");
  CHECK(error_of(w2->responses[1]).second == why);
  CHECK(parse_object(w2->responses[1]).at("id") == 2);
  CHECK(w1->done);
  CHECK(w2->done);
  CHECK(f.in_flight() == 0);
  CHECK(f.closes[0].reason == why);
}

TEST_CASE("http session: drain() waits for requests in flight, up to its deadline",
          "[session][http]") {
  http_fixture f;
  f.start();
  auto w = probe::post(*f.s, R"({"jsonrpc":"2.0","id":1,"method":"slow"})");
  f.s->drain(100ms);
  REQUIRE(run_until(f.ioc, [&] { return f.s->current_state() == session_state::draining; }));
  CHECK(f.closes.empty());  // still routable: its request may be answered
  REQUIRE(f.closed());
  CHECK(f.closes[0].reason ==
        "proxy shutting down: the drain deadline passed before the upstream answered");
  REQUIRE(w->responses.size() == 1);
  CHECK(error_of(w->responses[0]).second == f.closes[0].reason);
  CHECK(f.in_flight() == 0);
}

TEST_CASE("http session: server lines that are not JSON-RPC are counted, and a hook can end it",
          "[session][http]") {
  http_fixture f;
  f.cfg.on_message = [](direction, const std::string&, std::string_view raw) {
    return raw.find("forbidden") == std::string_view::npos;
  };
  f.start();
  f.up->server_garbles("garbage");
  f.up->server_oversize();
  REQUIRE(run_until(f.ioc, [&] { return num(f.snapshot().at("errors")) == 2; }));
  CHECK(num(f.snapshot().at("error_counts").at("server_invalid")) == 1);
  CHECK(num(f.snapshot().at("error_counts").at("server_oversize")) == 1);
  CHECK(f.s->current_state() == session_state::ready);
  f.up->server_says(R"({"jsonrpc":"2.0","method":"forbidden"})");
  REQUIRE(f.closed());
  CHECK(f.closes[0].reason == "session aborted by the message callback");
  CHECK(probe::buffered(*f.s).empty());
}
