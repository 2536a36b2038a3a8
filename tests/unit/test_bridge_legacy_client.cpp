// The translations of the bridge between a session-era client and a
// stateless-era server (protocol/bridge_legacy_client.hpp), with no I/O.
#include "protocol/bridge_legacy_client.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

using namespace mcpfwd;
using namespace mcpfwd::bridge_l2m;
namespace json = boost::json;

namespace {

json::object obj(const std::string& text) {
  return json::parse(text).as_object();
}

const char* const init_raw =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
    R"("capabilities":{"sampling":{},"roots":{"listChanged":true}},)"
    R"("clientInfo":{"name":"old-host","version":"1.2"}}})";

client_handshake handshake() {
  return parse_initialize(init_raw).value();
}

const json::object& meta_of(const json::object& req) {
  return req.at("params").as_object().at("_meta").as_object();
}

}  // namespace

TEST_CASE("bridge l2m: the initialize parameters are kept for the envelope") {
  client_handshake h = handshake();
  CHECK(h.version == "2025-06-18");
  CHECK(obj(h.capabilities).contains("sampling"));
  CHECK(obj(h.client_info).at("name") == "old-host");
  CHECK_FALSE(parse_initialize("not json").has_value());
  client_handshake bare =
      parse_initialize(R"({"jsonrpc":"2.0","id":1,"method":"initialize"})").value();
  CHECK(bare.capabilities == "{}");
  CHECK(bare.client_info.empty());
}

TEST_CASE("bridge l2m: a modern-only refusal of initialize is recognised, nothing else") {
  CHECK(refuses_handshake(
      R"({"jsonrpc":"2.0","id":0,"error":{"code":-32022,"message":"x","data":{"supported":["2026-07-28"],"requested":"2025-06-18"}}})"));
  // a version list naming a handshake version: the server does speak the session era
  CHECK_FALSE(refuses_handshake(
      R"({"jsonrpc":"2.0","id":0,"error":{"code":-32022,"message":"x","data":{"supported":["2025-11-25","2026-07-28"]}}})"));
  CHECK_FALSE(refuses_handshake(
      R"({"jsonrpc":"2.0","id":0,"error":{"code":-32022,"message":"x","data":{"supported":[]}}})"));
  CHECK_FALSE(
      refuses_handshake(R"({"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"x"}})"));
  CHECK_FALSE(refuses_handshake(R"({"jsonrpc":"2.0","id":0,"result":{}})"));
  CHECK_FALSE(refuses_handshake("garbage"));
}

TEST_CASE("bridge l2m: version negotiation keeps a known handshake version") {
  CHECK(negotiate_version("2025-06-18") == "2025-06-18");
  CHECK(negotiate_version("2024-11-05") == "2024-11-05");
  CHECK(negotiate_version("2026-07-28") == "2025-11-25");
  CHECK(negotiate_version("") == "2025-11-25");
}

TEST_CASE("bridge l2m: server/discover carries the client's envelope") {
  json::object req = obj(discover_request("\"d-1\"", handshake()));
  CHECK(req.at("method") == "server/discover");
  CHECK(req.at("id") == "d-1");
  const json::object& m = meta_of(req);
  CHECK(m.at("io.modelcontextprotocol/protocolVersion") == "2026-07-28");
  CHECK(m.at("io.modelcontextprotocol/clientCapabilities").as_object().contains("roots"));
  CHECK(m.at("io.modelcontextprotocol/clientInfo").as_object().at("version") == "1.2");
  CHECK_FALSE(m.contains("io.modelcontextprotocol/logLevel"));
}

TEST_CASE("bridge l2m: the initialize result comes from the discover result") {
  const std::string discover =
      R"({"jsonrpc":"2.0","id":"d-1","result":{"supportedVersions":["2026-07-28"],)"
      R"("capabilities":{"tools":{"listChanged":true},"resources":{"subscribe":true}},)"
      R"("instructions":"be nice","resultType":"complete","ttlMs":0,"cacheScope":"private",)"
      R"("_meta":{"io.modelcontextprotocol/serverInfo":{"name":"srv","version":"9"}}}})";
  json::object a = obj(initialize_answer(discover, "0", handshake()));
  CHECK(a.at("id") == 0);
  const json::object& r = a.at("result").as_object();
  CHECK(r.at("protocolVersion") == "2025-06-18");
  CHECK(r.at("serverInfo").as_object().at("name") == "srv");
  CHECK(r.at("instructions") == "be nice");
  CHECK(r.at("capabilities").as_object().contains("tools"));
  CHECK_FALSE(r.contains("resultType"));
  CHECK_FALSE(r.contains("supportedVersions"));

  listen_filter f = list_changed_interest(discover);
  CHECK(f.tools);
  CHECK_FALSE(f.prompts);
  CHECK_FALSE(f.resources);

  // An error is the initialize's error, with the client's id.
  json::object e = obj(
      initialize_answer(R"({"jsonrpc":"2.0","id":"d-1","error":{"code":-32603,"message":"boom"}})",
                        "7", handshake()));
  CHECK(e.at("id") == 7);
  CHECK(e.at("error").as_object().at("message") == "boom");
}

TEST_CASE("bridge l2m: a request gets the envelope and mcpfwd's id; its own _meta is kept") {
  const std::string raw =
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"t","arguments":{"a":1},)"
      R"("_meta":{"progressToken":"p-1"}}})";
  json::object req = obj(enveloped_request(raw, "\"r-9\"", handshake(), "warning"));
  CHECK(req.at("id") == "r-9");
  CHECK(req.at("method") == "tools/call");
  CHECK(req.at("params").as_object().at("name") == "t");
  const json::object& m = meta_of(req);
  CHECK(m.at("progressToken") == "p-1");
  CHECK(m.at("io.modelcontextprotocol/logLevel") == "warning");
  CHECK(m.at("io.modelcontextprotocol/protocolVersion") == "2026-07-28");

  // no params at all (tools/list): params gains the envelope
  json::object list = obj(
      enveloped_request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})", "2", handshake(), ""));
  CHECK(meta_of(list).contains("io.modelcontextprotocol/clientCapabilities"));
  CHECK_FALSE(meta_of(list).contains("io.modelcontextprotocol/logLevel"));
  CHECK(enveloped_request("[1]", "2", handshake(), "").empty());
}

TEST_CASE("bridge l2m: an input_required result, and the retry that answers it") {
  const std::string answer =
      R"({"jsonrpc":"2.0","id":"r-9","result":{"resultType":"input_required",)"
      R"("inputRequests":{"llm":{"method":"sampling/createMessage","params":{"maxTokens":5,"messages":[]}},)"
      R"("who":{"method":"elicitation/create","params":{"message":"name?"}}},)"
      R"("requestState":"s\u00e9aled/+=="}})";
  auto ir = parse_input_required(answer);
  REQUIRE(ir);
  REQUIRE(ir->requests.size() == 2);
  CHECK(ir->requests[0].first == "llm");
  CHECK(input_method(ir->requests[0].second) == "sampling/createMessage");
  CHECK(input_method(ir->requests[1].second) == "elicitation/create");

  json::object sreq = obj(server_request("\"in-1\"", ir->requests[1].second));
  CHECK(sreq.at("id") == "in-1");
  CHECK(sreq.at("method") == "elicitation/create");
  CHECK(sreq.at("params").as_object().at("message") == "name?");

  client_handshake h = handshake();
  CHECK(client_declares(h, "sampling/createMessage"));
  CHECK(client_declares(h, "roots/list"));
  CHECK_FALSE(client_declares(h, "elicitation/create"));
  CHECK_FALSE(client_declares(h, "tools/call"));

  const std::string original =
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"t"}})";
  const std::string extra =
      retry_params({{"llm", R"({"role":"assistant","content":{"type":"text","text":"hi"}})"},
                    {"who", R"({"action":"accept","content":{"name":"Ada"}})"}},
                   ir->request_state);
  json::object retry = obj(enveloped_request(original, "\"r-10\"", h, "", extra));
  CHECK(retry.at("id") == "r-10");
  const json::object& p = retry.at("params").as_object();
  CHECK(p.at("name") == "t");
  CHECK(p.at("requestState") ==
        "s\xc3\xa9"
        "aled/+==");  // the same string, unchanged
  CHECK(p.at("inputResponses").as_object().at("who").as_object().at("action") == "accept");
  CHECK(p.at("inputResponses").as_object().at("llm").as_object().at("role") == "assistant");

  // requestState alone (no inputRequests): a retry with just the state
  auto only_state = parse_input_required(
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","requestState":"x"}})");
  REQUIRE(only_state);
  CHECK(only_state->requests.empty());
  CHECK(only_state->request_state == "\"x\"");

  CHECK_FALSE(parse_input_required(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})"));
  CHECK_FALSE(parse_input_required(
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","content":[]}})"));
  CHECK_FALSE(parse_input_required(R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":""}})"));
}

TEST_CASE("bridge l2m: the final answer has the client's id and no resultType") {
  json::object a = obj(client_answer(
      R"({"jsonrpc":"2.0","id":"r-10","result":{"resultType":"complete","content":[],"ttlMs":5}})",
      "5"));
  CHECK(a.at("id") == 5);
  CHECK_FALSE(a.at("result").as_object().contains("resultType"));
  CHECK(a.at("result").as_object().at("ttlMs") == 5);  // extra fields stay
  json::object e = obj(client_answer(
      R"({"jsonrpc":"2.0","id":"r-10","error":{"code":-32602,"message":"m"}})", "\"abc\""));
  CHECK(e.at("id") == "abc");
  CHECK(e.at("error").as_object().at("code") == -32602);
  CHECK(result_text(R"({"jsonrpc":"2.0","id":1,"result":{"a":1}})") == R"({"a":1})");
  CHECK(error_message(R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"no"}})") == "no");
}

TEST_CASE("bridge l2m: one listen stream carries list-changed interest and subscriptions") {
  listen_filter f;
  CHECK(f.empty());
  f.tools = true;
  f.uris = {"test://a", "test://b"};
  json::object req = obj(listen_request("\"l-1\"", handshake(), f));
  CHECK(req.at("method") == "subscriptions/listen");
  const json::object& n = req.at("params").as_object().at("notifications").as_object();
  CHECK(n.at("toolsListChanged") == true);
  CHECK_FALSE(n.contains("promptsListChanged"));
  CHECK(n.at("resourceSubscriptions").as_array().size() == 2);
  CHECK(meta_of(req).contains("io.modelcontextprotocol/protocolVersion"));

  CHECK(
      listen_notification(
          R"({"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"notifications":{}}})")
          .empty());
  json::object up = obj(listen_notification(
      R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"test://a",)"
      R"("_meta":{"io.modelcontextprotocol/subscriptionId":"l-1"}}})"));
  CHECK(up.at("params").as_object().at("uri") == "test://a");
  CHECK_FALSE(up.at("params").as_object().contains("_meta"));
}

TEST_CASE("bridge l2m: what ping, setLevel and subscribe are answered with") {
  CHECK(obj(empty_result("3")) == obj(R"({"jsonrpc":"2.0","id":3,"result":{}})"));
  CHECK(request_level(
            R"({"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"error"}})") ==
        "error");
  CHECK(
      request_uri(
          R"({"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"x://y"}})") ==
      "x://y");
  CHECK(request_uri(R"({"jsonrpc":"2.0","id":1,"method":"resources/subscribe"})").empty());
}
