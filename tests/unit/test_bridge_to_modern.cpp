// The bridge between a session-era client and a stateless-era server
// (upstream/bridge_to_modern.hpp) on an in-memory upstream: what it sends
// the server, what it tells the client, message by message.
#include "upstream/bridge_to_modern.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "fake_upstream.hpp"

using namespace mcpfwd;
namespace json = boost::json;

namespace {

struct collector final : upstream::sink {
  std::vector<std::string> got;
  net::awaitable<void> on_server_message(message m) override {
    got.push_back(std::move(m.raw));
    co_return;
  }
  void on_server_rejected(const classify_error*, std::string_view) override {}
};

struct rig {
  net::io_context ioc;
  net::strand<net::any_io_executor> strand{net::make_strand(ioc.get_executor())};
  std::shared_ptr<test::fake_upstream_control> ctl =
      std::make_shared<test::fake_upstream_control>();
  logger log{log_level::off, [](log_level, const char*, std::string_view) {}};
  collector out;
  std::unique_ptr<bridge_to_modern> b;

  explicit rig(upstream_era era) {
    b = std::make_unique<bridge_to_modern>(
        strand, std::make_unique<test::fake_upstream>(strand, ctl), era, log, "");
    b->start(std::make_shared<int>(0), out);
    run();
  }
  ~rig() {
    ctl->end(test::fake_upstream_control::exited(0));
    run();
  }
  void run() {
    ioc.restart();
    ioc.poll();
  }
  void client(std::string raw) {
    message m;
    classify_error err;
    REQUIRE(classify(std::move(raw), m, err));
    net::co_spawn(strand, b->send(std::move(m)), net::detached);
    run();
  }
  void server(std::string raw) {
    ctl->server_says(std::move(raw));
    run();
  }
  // Everything the server got, send() and send_now() alike, in order of kind.
  std::vector<json::object> to_server() const {
    std::vector<json::object> all;
    for (const auto& s : ctl->sent) all.push_back(json::parse(s).as_object());
    for (const auto& s : ctl->sent_now) all.push_back(json::parse(s).as_object());
    return all;
  }
  json::object last_to_server() const { return to_server().back(); }
  json::object last_to_client() const { return json::parse(out.got.back()).as_object(); }
};

const char* const init =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
    R"("capabilities":{"sampling":{}},"clientInfo":{"name":"host","version":"1"}}})";
const char* const refusal =
    R"({"jsonrpc":"2.0","id":0,"error":{"code":-32022,"message":"modern only",)"
    R"("data":{"supported":["2026-07-28"],"requested":"2025-06-18"}}})";

std::string discover_answer(std::string_view id_json) {
  return R"({"jsonrpc":"2.0","id":)" + std::string(id_json) +
         R"(,"result":{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},)"
         R"("_meta":{"io.modelcontextprotocol/serverInfo":{"name":"srv","version":"2"}}}})";
}

std::string id_text(const json::object& o) {
  return json::serialize(o.at("id"));
}

// An initialized bridging rig (auto: the server refused initialize).
void initialize(rig& r) {
  r.client(init);
  r.server(refusal);
  json::object d = r.last_to_server();
  REQUIRE(d.at("method") == "server/discover");
  r.server(discover_answer(id_text(d)));
  REQUIRE(r.last_to_client().at("result").as_object().at("serverInfo").as_object().at("name") ==
          "srv");
}

}  // namespace

TEST_CASE("bridge l2m: a server that accepts initialize is passed through untouched") {
  rig r(upstream_era::auto_detect);
  r.client(init);
  REQUIRE(r.ctl->sent.size() == 1);
  CHECK(r.ctl->sent[0] == init);
  // a request sent before the answer waits for the verdict
  r.client(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(r.ctl->sent.size() == 1);
  r.server(R"({"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18"}})");
  REQUIRE(r.out.got.size() == 1);
  REQUIRE(r.ctl->sent.size() == 2);
  CHECK(r.ctl->sent[1] == R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  r.client(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK(r.ctl->sent.back() == R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  CHECK_FALSE(r.b->describe().contains("bridge"));
}

TEST_CASE("bridge l2m: a stateless-era client is passed through untouched") {
  rig r(upstream_era::modern);
  const std::string req =
      R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})";
  r.client(req);
  REQUIRE(r.ctl->sent.size() == 1);
  CHECK(r.ctl->sent[0] == req);
  r.server(R"({"jsonrpc":"2.0","id":1,"result":{"tools":[],"resultType":"complete"}})");
  CHECK(r.out.got.back() ==
        R"({"jsonrpc":"2.0","id":1,"result":{"tools":[],"resultType":"complete"}})");
}

TEST_CASE("bridge l2m: --upstream-era modern never sends initialize") {
  rig r(upstream_era::modern);
  r.client(init);
  REQUIRE(r.ctl->sent.size() == 1);
  CHECK(json::parse(r.ctl->sent[0]).as_object().at("method") == "server/discover");
  CHECK(r.b->describe().at("bridge") == "legacy client, modern server");
}

TEST_CASE(
    "bridge l2m: ping, setLevel and initialized are handled here; requests get the envelope") {
  rig r(upstream_era::auto_detect);
  initialize(r);
  const std::size_t before = r.to_server().size();
  r.client(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  r.client(R"({"jsonrpc":"2.0","id":"p","method":"ping"})");
  CHECK(r.last_to_client() == json::parse(R"({"jsonrpc":"2.0","id":"p","result":{}})"));
  r.client(R"({"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"error"}})");
  CHECK(r.last_to_client() == json::parse(R"({"jsonrpc":"2.0","id":2,"result":{}})"));
  CHECK(r.to_server().size() == before);  // none of these reached the server

  r.client(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":7}}})");
  json::object up = r.last_to_server();
  const json::object& meta = up.at("params").as_object().at("_meta").as_object();
  CHECK(meta.at("io.modelcontextprotocol/logLevel") == "error");
  CHECK(meta.at("progressToken") == 7);
  CHECK(up.at("id") != 3);
  // progress and the answer reach the client with its own id
  r.server(
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}})");
  CHECK(r.last_to_client().at("method") == "notifications/progress");
  r.server(R"({"jsonrpc":"2.0","id":)" + id_text(up) +
           R"(,"result":{"content":[],"resultType":"complete"}})");
  CHECK(r.last_to_client() == json::parse(R"({"jsonrpc":"2.0","id":3,"result":{"content":[]}})"));
}

TEST_CASE("bridge l2m: input_required becomes client requests, then a retry with the answers") {
  rig r(upstream_era::auto_detect);
  initialize(r);
  r.client(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ask"}})");
  json::object first = r.last_to_server();
  r.server(
      R"({"jsonrpc":"2.0","id":)" + id_text(first) +
      R"(,"result":{"resultType":"input_required","requestState":"S1",)"
      R"("inputRequests":{"q":{"method":"sampling/createMessage","params":{"maxTokens":1,"messages":[]}}}}})");
  json::object ask = r.last_to_client();
  CHECK(ask.at("method") == "sampling/createMessage");
  r.client(R"({"jsonrpc":"2.0","id":)" + id_text(ask) +
           R"(,"result":{"role":"assistant","content":{"type":"text","text":"A"},"model":"m"}})");
  json::object retry = r.last_to_server();
  CHECK(retry.at("id") != first.at("id"));
  const json::object& p = retry.at("params").as_object();
  CHECK(p.at("name") == "ask");
  CHECK(p.at("requestState") == "S1");
  CHECK(p.at("inputResponses").as_object().at("q").as_object().at("model") == "m");
  r.server(R"({"jsonrpc":"2.0","id":)" + id_text(retry) +
           R"(,"result":{"content":[{"type":"text","text":"done"}]}})");
  CHECK(r.last_to_client().at("id") == 5);
  CHECK(r.last_to_client().at("result").as_object().contains("content"));
}

TEST_CASE("bridge l2m: a capability the client did not declare is -32021 for the call") {
  rig r(upstream_era::auto_detect);
  initialize(r);  // declared: sampling only
  r.client(R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"ask"}})");
  json::object first = r.last_to_server();
  const std::size_t to_client = r.out.got.size();
  r.server(R"({"jsonrpc":"2.0","id":)" + id_text(first) +
           R"(,"result":{"resultType":"input_required",)"
           R"("inputRequests":{"who":{"method":"elicitation/create","params":{"message":"?"}}}}})");
  REQUIRE(r.out.got.size() == to_client + 1);  // no elicitation request, just the error
  json::object e = r.last_to_client();
  CHECK(e.at("id") == 6);
  CHECK(e.at("error").as_object().at("code") == -32021);
}

TEST_CASE("bridge l2m: a cancellation goes to the request's current upstream id") {
  rig r(upstream_era::auto_detect);
  initialize(r);
  r.client(R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"slow"}})");
  json::object up = r.last_to_server();
  r.client(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8,"reason":"user"}})");
  json::object c = r.last_to_server();
  CHECK(c.at("method") == "notifications/cancelled");
  CHECK(c.at("params").as_object().at("requestId") == up.at("id"));
  // a late answer is dropped
  const std::size_t n = r.out.got.size();
  r.server(R"({"jsonrpc":"2.0","id":)" + id_text(up) + R"(,"result":{"content":[]}})");
  CHECK(r.out.got.size() == n);
}

TEST_CASE("bridge l2m: subscribe opens a listen stream; its frames reach the client") {
  rig r(upstream_era::auto_detect);
  initialize(r);  // tools without listChanged: no listen stream yet
  for (const auto& m : r.to_server()) CHECK(m.at("method") != "subscriptions/listen");
  r.client(R"({"jsonrpc":"2.0","id":9,"method":"resources/subscribe","params":{"uri":"x://a"}})");
  json::object listen = r.last_to_server();
  REQUIRE(listen.at("method") == "subscriptions/listen");
  const std::string lid = id_text(listen);
  const std::size_t n = r.out.got.size();
  // answered once the stream is acknowledged
  r.server(
      R"({"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"notifications":{},"_meta":{"io.modelcontextprotocol/subscriptionId":)" +
      lid + "}}}");
  REQUIRE(r.out.got.size() == n + 1);
  CHECK(r.last_to_client() == json::parse(R"({"jsonrpc":"2.0","id":9,"result":{}})"));
  r.server(
      R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"x://a","_meta":{"io.modelcontextprotocol/subscriptionId":)" +
      lid + "}}}");
  CHECK(
      r.last_to_client() ==
      json::parse(
          R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"x://a"}})"));
  // unsubscribing the last URI cancels the stream; its late frames are dropped
  r.client(
      R"({"jsonrpc":"2.0","id":10,"method":"resources/unsubscribe","params":{"uri":"x://a"}})");
  json::object cancel = r.last_to_server();
  CHECK(cancel.at("method") == "notifications/cancelled");
  CHECK(json::serialize(cancel.at("params").as_object().at("requestId")) == lid);
  CHECK(r.last_to_client() == json::parse(R"({"jsonrpc":"2.0","id":10,"result":{}})"));
  const std::size_t m = r.out.got.size();
  r.server(
      R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"x://a","_meta":{"io.modelcontextprotocol/subscriptionId":)" +
      lid + "}}}");
  CHECK(r.out.got.size() == m);
}

TEST_CASE("bridge l2m: a server request the session could not deliver ends its call") {
  rig r(upstream_era::auto_detect);
  initialize(r);
  r.client(R"({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"ask"}})");
  json::object first = r.last_to_server();
  r.server(
      R"({"jsonrpc":"2.0","id":)" + id_text(first) +
      R"(,"result":{"resultType":"input_required",)"
      R"("inputRequests":{"q":{"method":"sampling/createMessage","params":{"messages":[]}}}}})");
  json::object ask = r.last_to_client();
  REQUIRE(ask.at("method") == "sampling/createMessage");
  // What http_session::lost() sends when the client's stream fell behind.
  r.b->send_now(make_error_response(id_text(ask), rpc_error::upstream_error, "fell behind"));
  r.run();
  json::object e = r.last_to_client();
  CHECK(e.at("id") == 11);
  CHECK(std::string(e.at("error").as_object().at("message").as_string()).find("fell behind") !=
        std::string::npos);
}

TEST_CASE("bridge l2m: calls abandoned while waiting for the client's input are bounded") {
  rig r(upstream_era::auto_detect);
  initialize(r);
  const int n = 1024 + 3;
  for (int i = 0; i < n; ++i) {
    r.client(R"({"jsonrpc":"2.0","id":)" + std::to_string(100 + i) +
             R"(,"method":"tools/call","params":{"name":"ask"}})");
    json::object up = r.last_to_server();
    r.server(
        R"({"jsonrpc":"2.0","id":)" + id_text(up) +
        R"(,"result":{"resultType":"input_required",)"
        R"("inputRequests":{"q":{"method":"sampling/createMessage","params":{"messages":[]}}}}})");
  }
  // The three oldest calls were answered with an error, oldest first; the others wait.
  std::vector<json::value> abandoned;
  for (const auto& raw : r.out.got) {
    json::object m = json::parse(raw).as_object();
    if (m.contains("error")) abandoned.push_back(m.at("id"));
  }
  CHECK(abandoned == std::vector<json::value>{100, 101, 102});
  // The answer to an abandoned call's input request is dropped; a live one still works.
  const std::size_t before = r.to_server().size();
  json::object first_ask, last_ask;
  for (const auto& raw : r.out.got) {
    json::object m = json::parse(raw).as_object();
    if (!m.contains("method") || m.at("method") != "sampling/createMessage") continue;
    if (first_ask.empty()) first_ask = m;
    last_ask = std::move(m);
  }
  REQUIRE_FALSE(first_ask.empty());
  r.client(R"({"jsonrpc":"2.0","id":)" + id_text(first_ask) +
           R"(,"result":{"role":"assistant","content":{"type":"text","text":"A"},"model":"m"}})");
  CHECK(r.to_server().size() == before);
  r.client(R"({"jsonrpc":"2.0","id":)" + id_text(last_ask) +
           R"(,"result":{"role":"assistant","content":{"type":"text","text":"A"},"model":"m"}})");
  CHECK(r.to_server().size() == before + 1);
}
