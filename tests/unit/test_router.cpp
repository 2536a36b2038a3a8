// The router decides every request from its head, with no socket: these
// tests feed it request heads and check the decision.
#include "server/router.hpp"

#include <catch2/catch.hpp>

#include <tuple>

#include <boost/json.hpp>

#include "base/byte_queue.hpp"
#include "base/spawn.hpp"

using namespace mcpfwd;
namespace http = boost::beast::http;

namespace {

struct fixture {
  proxy_config cfg;
  std::map<std::string, session_transport, std::less<>> sessions;
  session_lookup lookup = [this](std::string_view id) -> std::optional<session_transport> {
    auto it = sessions.find(id);
    if (it == sessions.end()) return std::nullopt;
    return it->second;
  };
  fixture() {
    cfg.listen_host = "127.0.0.1";
    sessions["aaaa"] = session_transport::streamable_http;
    sessions["bbbb"] = session_transport::legacy_sse;
  }
  route decide(http::verb v, std::string target,
               std::vector<std::pair<std::string, std::string>> headers = {}, bool draining = false,
               std::uint16_t port = 8931, bool loopback = true) {
    router r(cfg, port, loopback);
    http::request_header<> h;
    h.method(v);
    h.target(target);
    h.version(11);
    bool has_host = false;
    for (auto& [k, val] : headers) {
      h.insert(k, val);
      if (boost::beast::iequals(k, "Host")) has_host = true;
    }
    if (!has_host) h.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    return r.on_head(h, draining, lookup);
  }
};

int code_of(const http_refusal& f) {
  return static_cast<int>(boost::json::parse(f.body).at("error").at("code").as_int64());
}

}  // namespace

TEST_CASE("router: Host is checked first, loopback names with the listener's port") {
  fixture f;
  auto r = f.decide(http::verb::get, "/sse", {{"Host", "evil.example.com"}});
  CHECK(r.kind == route_kind::refuse);
  CHECK(r.refusal.status == http::status::misdirected_request);
  CHECK(r.refusal.reason == reject_reason::host);
  // before the path, the method and the token are looked at
  f.cfg.auth_token = "t";
  CHECK(f.decide(http::verb::patch, "/nowhere", {{"Host", "evil.example.com"}}).refusal.reason ==
        reject_reason::host);
  f.cfg.auth_token.clear();
  for (const char* ok :
       {"localhost:8931", "127.0.0.1:8931", "[::1]:8931", "127.1.2.3:8931", "LocalHost:8931"})
    CHECK(f.decide(http::verb::get, "/sse", {{"Host", ok}}).kind == route_kind::sse_open);
  for (const char* bad : {"localhost", "localhost:80", "127.0.0.1:1", "127.0.0.256:8931",
                          "localhost.evil.com:8931", "[::2]:8931", "", ":8931", "localhost:"})
    CHECK(f.decide(http::verb::get, "/sse", {{"Host", bad}}).refusal.reason == reject_reason::host);
  CHECK(f.decide(http::verb::get, "/sse", {{"Host", "localhost"}}, false, 80).kind ==
        route_kind::sse_open);  // the default port may be omitted
}

TEST_CASE("router: --allow-host adds names; a public bind checks Host only when asked") {
  fixture f;
  f.cfg.allowed_hosts = {"mcp.example", "api.example:443"};
  CHECK(f.decide(http::verb::get, "/sse", {{"Host", "mcp.example:9"}}).kind ==
        route_kind::sse_open);
  CHECK(f.decide(http::verb::get, "/sse", {{"Host", "api.example:443"}}).kind ==
        route_kind::sse_open);
  CHECK(f.decide(http::verb::get, "/sse", {{"Host", "api.example:444"}}).kind ==
        route_kind::refuse);
  fixture pub;
  CHECK(pub.decide(http::verb::get, "/sse", {{"Host", "anything"}}, false, 8931, false).kind ==
        route_kind::sse_open);
  pub.cfg.allowed_hosts = {"mcp.example"};
  CHECK(pub.decide(http::verb::get, "/sse", {{"Host", "anything"}}, false, 8931, false).kind ==
        route_kind::refuse);
}

TEST_CASE("router: Origin, token (case-insensitive scheme), path, method") {
  fixture f;
  CHECK(f.decide(http::verb::get, "/sse", {{"Origin", "http://localhost:3000"}}).kind ==
        route_kind::sse_open);
  auto r = f.decide(http::verb::get, "/sse", {{"Origin", "http://evil.example"}});
  CHECK(r.refusal.status == http::status::forbidden);
  f.cfg.auth_token = "s3cret";
  CHECK(f.decide(http::verb::get, "/sse").refusal.status == http::status::unauthorized);
  for (const char* ok : {"Bearer s3cret", "bearer s3cret", "BEARER s3cret"})
    CHECK(f.decide(http::verb::get, "/sse", {{"Authorization", ok}}).kind == route_kind::sse_open);
  for (const char* bad : {"Bearer s3cre", "Basic s3cret", "s3cret", "Bearer", "Bearers3cret"})
    CHECK(f.decide(http::verb::get, "/sse", {{"Authorization", bad}}).refusal.reason ==
          reject_reason::token);
  f.cfg.auth_token.clear();
  CHECK(f.decide(http::verb::get, "/other").refusal.status == http::status::not_found);
  r = f.decide(http::verb::put, "/mcp");
  CHECK(r.refusal.status == http::status::method_not_allowed);
  CHECK(r.refusal.headers.at(0).first == "Allow");
  CHECK(f.decide(http::verb::post, "/sse").refusal.reason == reject_reason::method);
  CHECK(f.decide(http::verb::get, "/messages").refusal.reason == reject_reason::method);
}

TEST_CASE("router: draining, version, size") {
  fixture f;
  auto r = f.decide(http::verb::post, "/mcp", {}, true);
  CHECK(r.refusal.status == http::status::service_unavailable);
  CHECK(r.refusal.close);
  // An unknown version on /mcp is the stateless era's (its body gets -32022);
  // on the legacy transport it is refused from the head.
  r = f.decide(http::verb::post, "/mcp", {{"MCP-Protocol-Version", "1999-01-01"}});
  CHECK(r.kind == route_kind::modern_post);
  r = f.decide(http::verb::get, "/sse", {{"MCP-Protocol-Version", "1999-01-01"}});
  CHECK(r.refusal.reason == reject_reason::version);
  f.cfg.max_message_bytes = 1000;
  r = f.decide(http::verb::post, "/mcp", {{"Content-Length", "1001"}});
  CHECK(r.refusal.status == http::status::payload_too_large);
  CHECK(r.refusal.close);
  CHECK(f.decide(http::verb::post, "/mcp", {{"Content-Length", "1000"}}).kind ==
        route_kind::mcp_post);
  CHECK(f.decide(http::verb::post, "/mcp", {{"Content-Length", "1x"}}).refusal.close);
}

// Found by tests/fuzz (fuzz_http_request): header bytes that are not UTF-8,
// echoed in a refusal, made its body invalid JSON.
TEST_CASE("router: a refusal echoing a header that is not UTF-8 is JSON") {
  fixture f;
  // (an unknown version on POST /mcp is the stateless era's, decided from the
  // body; GET /mcp refuses it with 405 naming it, /sse with 400)
  for (auto [verb, target, name, value] :
       {std::tuple{http::verb::post, "/mcp", "Host", "127.0.0.1\xc2:8931"},
        std::tuple{http::verb::get, "/mcp", "MCP-Protocol-Version", "2025-\xff\xfe"},
        std::tuple{http::verb::get, "/sse", "MCP-Protocol-Version", "2025-\xff\xfe"}}) {
    auto r = f.decide(verb, target, {{name, value}});
    REQUIRE(r.kind == route_kind::refuse);
    boost::system::error_code ec;
    boost::json::parse(r.refusal.body, ec);
    CHECK_FALSE(ec);
  }
}

TEST_CASE("router: a session id is routable only on its own transport") {
  fixture f;
  auto r = f.decide(http::verb::post, "/mcp", {{"Mcp-Session-Id", "aaaa"}});
  CHECK(r.kind == route_kind::mcp_post);
  CHECK(r.session_id == "aaaa");
  CHECK(f.decide(http::verb::post, "/mcp", {{"Mcp-Session-Id", "bbbb"}}).refusal.status ==
        http::status::not_found);
  CHECK(f.decide(http::verb::get, "/mcp", {{"Mcp-Session-Id", "bbbb"}}).refusal.status ==
        http::status::not_found);
  CHECK(f.decide(http::verb::post, "/messages?sessionId=aaaa").refusal.status ==
        http::status::not_found);
  r = f.decide(http::verb::post, "/messages?x=1&sessionId=bbbb");
  CHECK(r.kind == route_kind::sse_post);
  CHECK(r.session_id == "bbbb");
  CHECK(f.decide(http::verb::post, "/messages").refusal.reason == reject_reason::no_session);
  CHECK(f.decide(http::verb::get, "/mcp").refusal.reason == reject_reason::no_session);
  CHECK(f.decide(http::verb::get, "/mcp", {{"Mcp-Session-Id", "aaaa"}, {"Accept", "text/html"}})
            .refusal.status == http::status::not_acceptable);
  CHECK(f.decide(http::verb::delete_, "/mcp", {{"Mcp-Session-Id", "aaaa"}}).kind ==
        route_kind::mcp_delete);
}

TEST_CASE("router: the body") {
  fixture f;
  router r(f.cfg, 8931, true);
  route post;
  post.kind = route_kind::mcp_post;
  message m;
  auto refusal = r.on_body(post, R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})", m);
  REQUIRE(refusal);
  CHECK(refusal->reason == reject_reason::no_session);  // no session: initialize only
  CHECK(!r.on_body(post, R"({"jsonrpc":"2.0","id":1,"method":"initialize"})", m));
  refusal = r.on_body(post, "{not json", m);
  REQUIRE(refusal);
  CHECK(code_of(*refusal) == -32700);
  post.session_id = "aaaa";
  f.cfg.max_batch = 2;
  refusal = r.on_body(post,
                      R"([{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"},)"
                      R"({"jsonrpc":"2.0","method":"c"}])",
                      m);
  REQUIRE(refusal);
  CHECK(refusal->reason == reject_reason::batch_too_large);
  // one nesting limit: deeper than max_json_depth is a parse error
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"x","params":)";
  for (unsigned i = 0; i < max_json_depth; ++i) deep += "[";
  for (unsigned i = 0; i < max_json_depth; ++i) deep += "]";
  deep += "}";
  refusal = r.on_body(post, deep, m);
  REQUIRE(refusal);
  CHECK(code_of(*refusal) == -32700);
}

TEST_CASE("byte_queue: bounded in bytes, one message always fits") {
  byte_queue<std::string> q(10);
  CHECK(q.try_push("12345"));
  CHECK(q.try_push("12345"));
  CHECK(!q.try_push("1"));
  CHECK(q.bytes() == 10);
  CHECK(q.pop_front() == "12345");
  CHECK(q.push_evicting("123456789") == 1);
  CHECK(q.size() == 1);
  byte_queue<std::string> big(4);
  CHECK(big.try_push("larger than the bound"));  // an empty queue takes one message
  CHECK(!big.try_push("x"));
}

TEST_CASE("byte_queue: pop_back takes the newest entry back, bytes and all") {
  byte_queue<std::string> q(100);
  q.push_evicting("old");
  q.push_evicting("newest");
  CHECK(q.back() == "newest");
  CHECK(q.pop_back() == "newest");
  CHECK(q.bytes() == 3);
  CHECK(q.pop_front() == "old");
  CHECK(q.empty());
  q.push_evicting("a");
  q.push_evicting("b");
  CHECK(q.pop_front() == "a");
  CHECK(q.pop_back() == "b");  // the last one: the queue is empty, and reusable
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
  q.push_evicting("c");
  CHECK(q.front() == "c");
  CHECK(q.size() == 1);
}

TEST_CASE("log_failure: an exception is logged and what the coroutine owned is closed") {
  std::vector<std::string> lines;
  logger log(log_level::info,
             [&](log_level, const char*, std::string_view t) { lines.emplace_back(t); });
  bool closed = false;
  auto handler = log_failure(log, "session x reader", [&] { closed = true; });
  handler(nullptr);
  CHECK(!closed);
  CHECK(lines.empty());
  handler(std::make_exception_ptr(std::runtime_error("boom")));
  CHECK(closed);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("session x reader") != std::string::npos);
  CHECK(lines[0].find("boom") != std::string::npos);
}

TEST_CASE("router: /servers/NAME/... names a server of the config file") {
  fixture f;
  auto r = f.decide(http::verb::get, "/servers/github/sse");
  CHECK(r.kind == route_kind::sse_open);
  CHECK(r.server == "github");
  r = f.decide(http::verb::post, "/servers/a.b-c_1/messages?sessionId=bbbb");
  CHECK(r.kind == route_kind::sse_post);
  CHECK(r.server == "a.b-c_1");
  CHECK(r.session_id == "bbbb");
  r = f.decide(http::verb::get, "/sse");
  CHECK(r.kind == route_kind::sse_open);
  CHECK(r.server.empty());
  for (const char* bad :
       {"/servers/x", "/servers//mcp", "/servers/x/other", "/servers/x/mcp/y", "/servers/",
        "/servers/\x80/mcp", "/servers/../mcp", "/servers/a%2Fb/mcp"})
    CHECK(f.decide(http::verb::post, bad).refusal.reason == reject_reason::path);
}
