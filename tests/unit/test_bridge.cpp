// The bridge's translations between a 2026-07-28 client and a session-era
// server (protocol/bridge.hpp), with no process and no socket.
#include "protocol/bridge.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

using namespace mcpfwd;
namespace json = boost::json;

namespace {

json::object obj(const std::string& text) {
  return json::parse(text).as_object();
}

const char* modern_call = R"({"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{
  "name":"echo","arguments":{"a":1},
  "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
           "io.modelcontextprotocol/clientCapabilities":{"sampling":{},"elicitation":{"form":{}}},
           "io.modelcontextprotocol/clientInfo":{"name":"host","version":"9"},
           "io.modelcontextprotocol/logLevel":"debug",
           "progressToken":"p7","com.example/trace":"t"}}})";

const char* init_result = R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18",
  "capabilities":{"tools":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},
                  "logging":{},"tasks":{"list":{}}},
  "serverInfo":{"name":"everything","version":"2"},"instructions":"be nice"}})";

}  // namespace

TEST_CASE("bridge: initialize is built from the request's envelope") {
  auto req = obj(bridge_initialize_request("5", modern_call));
  CHECK(req.at("id").as_int64() == 5);
  CHECK(req.at("method").as_string() == "initialize");
  const auto& p = req.at("params").as_object();
  CHECK(p.at("protocolVersion").as_string() == "2025-11-25");
  CHECK(p.at("capabilities").as_object().contains("sampling"));
  CHECK(p.at("capabilities").as_object().contains("elicitation"));
  CHECK(p.at("clientInfo").at("name").as_string() == "host");
  // No envelope: mcpfwd's own name and empty capabilities.
  auto bare = obj(bridge_initialize_request("1", R"({"jsonrpc":"2.0","id":1,"method":"x"})"));
  CHECK(bare.at("params").at("capabilities").as_object().empty());
  CHECK(bare.at("params").at("clientInfo").at("name").as_string() == "mcpfwd-bridge");
}

TEST_CASE("bridge: the initialize result gives discover, without what 2026 removed") {
  auto s = parse_initialize_result(init_result);
  REQUIRE(s);
  CHECK(s->protocol_version == "2025-06-18");  // accepted as negotiated
  CHECK(s->logging);
  CHECK(s->subscribe);
  CHECK(s->tools_changed);
  CHECK(s->resources_changed);
  CHECK_FALSE(s->prompts_changed);
  auto d = obj(bridge_discover_response(R"("d")", *s));
  CHECK(d.at("id").as_string() == "d");
  const auto& r = d.at("result").as_object();
  CHECK(r.at("supportedVersions").as_array().size() == 1);
  CHECK(r.at("supportedVersions").at(0).as_string() == "2026-07-28");
  CHECK(r.at("ttlMs").as_int64() == 0);
  CHECK(r.at("cacheScope").as_string() == "private");
  CHECK(r.at("resultType").as_string() == "complete");
  CHECK(r.at("instructions").as_string() == "be nice");
  CHECK(r.at("_meta").at("serverInfo").at("name").as_string() == "everything");
  CHECK_FALSE(r.at("capabilities").as_object().contains("tasks"));
  CHECK(r.at("capabilities").as_object().contains("tools"));

  CHECK_FALSE(parse_initialize_result(R"({"jsonrpc":"2.0","id":1,"error":{"code":-1}})"));
  CHECK_FALSE(parse_initialize_result(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
  CHECK_FALSE(parse_initialize_result("not json"));
}

TEST_CASE("bridge: a request loses the envelope but keeps its progress token and other _meta") {
  auto r = obj(bridge_request_to_legacy(modern_call));
  const auto& p = r.at("params").as_object();
  const auto& meta = p.at("_meta").as_object();
  CHECK(meta.size() == 2);
  CHECK(meta.at("progressToken").as_string() == "p7");
  CHECK(meta.at("com.example/trace").as_string() == "t");
  CHECK(p.at("arguments").at("a").as_int64() == 1);
  // A retry's MRTR fields never reach the legacy server; an emptied _meta goes.
  auto retry = obj(bridge_request_to_legacy(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","requestState":"s",
          "inputResponses":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})"));
  CHECK(retry.at("params").as_object().size() == 1);
  CHECK(bridge_request_to_legacy("[]").empty());
}

TEST_CASE("bridge: the envelope's fields are read") {
  auto e = read_envelope(modern_call);
  REQUIRE(e);
  CHECK(e->log_level == "debug");
  CHECK(e->name == "echo");
  CHECK_FALSE(e->has_request_state);
  CHECK(declares_capability(e->client_capabilities_json, "sampling"));
  CHECK(declares_capability(e->client_capabilities_json, "elicitation"));
  CHECK_FALSE(declares_capability(e->client_capabilities_json, "roots"));
  CHECK_FALSE(declares_capability(e->client_capabilities_json, ""));
  CHECK_FALSE(declares_capability(R"({"roots":null})", "roots"));
  auto r = read_envelope(
      R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"a://b",
          "requestState":"s1","inputResponses":{"k":{"action":"accept"}}}})");
  REQUIRE(r);
  CHECK(r->has_request_state);
  CHECK(r->request_state == "s1");
  CHECK(r->name == "a://b");
  CHECK(input_response_for(r->input_responses_json, "k") == R"({"action":"accept"})");
  CHECK(input_response_for(r->input_responses_json, "other").empty());
}

TEST_CASE("bridge: results get resultType, list results and reads get caching hints") {
  auto list = obj(bridge_response_to_modern(
      R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"t","execution":{"taskSupport":"optional"}}]}})",
      "tools/list"));
  const auto& r = list.at("result").as_object();
  CHECK(r.at("resultType").as_string() == "complete");
  CHECK(r.at("ttlMs").as_int64() == 0);
  CHECK(r.at("cacheScope").as_string() == "private");
  CHECK_FALSE(r.at("tools").at(0).as_object().contains("execution"));
  auto read = obj(bridge_response_to_modern(
      R"({"jsonrpc":"2.0","id":1,"result":{"contents":[],"ttlMs":5000,"cacheScope":"public"}})",
      "resources/read"));
  CHECK(read.at("result").at("ttlMs").as_int64() == 5000);  // the server's own hints kept
  CHECK(read.at("result").at("cacheScope").as_string() == "public");
  auto call = obj(bridge_response_to_modern(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})",
                                            "tools/call"));
  CHECK(call.at("result").at("resultType").as_string() == "complete");
  CHECK_FALSE(call.at("result").as_object().contains("ttlMs"));
  const std::string err = R"({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"x"}})";
  CHECK(bridge_response_to_modern(err, "tools/call") == err);
}

TEST_CASE("bridge: a server request becomes an input_required result") {
  CHECK(capability_for("sampling/createMessage") == "sampling");
  CHECK(capability_for("elicitation/create") == "elicitation");
  CHECK(capability_for("roots/list") == "roots");
  CHECK(capability_for("ping").empty());
  CHECK(mrtr_method("tools/call"));
  CHECK(mrtr_method("prompts/get"));
  CHECK(mrtr_method("resources/read"));
  CHECK_FALSE(mrtr_method("tools/list"));
  auto ir =
      obj(input_required_response("7",
                                  {{"mcpfwd-1", "sampling/createMessage", R"({"maxTokens":5})"},
                                   {"mcpfwd-2", "roots/list", ""}},
                                  "st"));
  const auto& r = ir.at("result").as_object();
  CHECK(r.at("resultType").as_string() == "input_required");
  CHECK(r.at("requestState").as_string() == "st");
  CHECK(r.at("inputRequests").at("mcpfwd-1").at("method").as_string() == "sampling/createMessage");
  CHECK(r.at("inputRequests").at("mcpfwd-1").at("params").at("maxTokens").as_int64() == 5);
  CHECK_FALSE(r.at("inputRequests").at("mcpfwd-2").as_object().contains("params"));
  CHECK(obj(result_response(R"("s")", "{}")).at("id").as_string() == "s");
}

TEST_CASE("bridge: requestState tokens are recognised by form only") {
  const std::string hex(32, 'a');
  const std::string t = make_request_state(hex, 42);
  CHECK(t == "mcpfwd-b1." + hex + ".42");
  CHECK(looks_like_request_state(t));
  CHECK_FALSE(looks_like_request_state("forged"));
  CHECK_FALSE(looks_like_request_state("mcpfwd-b1." + std::string(32, 'g') + ".1"));
  CHECK_FALSE(looks_like_request_state("mcpfwd-b1." + hex + "."));
  CHECK_FALSE(looks_like_request_state("mcpfwd-b1." + hex + ".1x"));
}

TEST_CASE("bridge: listen is cut to what the server can honour") {
  auto s = parse_initialize_result(init_result);
  REQUIRE(s);
  auto f = honoured_filter(
      R"({"jsonrpc":"2.0","id":"L","method":"subscriptions/listen","params":{"notifications":{
          "toolsListChanged":true,"promptsListChanged":true,"resourceSubscriptions":["a://1"]}}})",
      *s);
  REQUIRE(f);
  CHECK(f->tools);
  CHECK_FALSE(f->prompts);  // the server does not announce prompt list changes
  CHECK_FALSE(f->resources);
  REQUIRE(f->uris.size() == 1);
  auto ack = obj(listen_acknowledgement(*f, R"("L")"));
  CHECK(ack.at("method").as_string() == "notifications/subscriptions/acknowledged");
  const auto& n = ack.at("params").at("notifications").as_object();
  CHECK(n.at("toolsListChanged").as_bool());
  CHECK_FALSE(n.contains("promptsListChanged"));
  CHECK(n.at("resourceSubscriptions").at(0).as_string() == "a://1");
  CHECK(ack.at("params").at("_meta").at("io.modelcontextprotocol/subscriptionId").as_string() ==
        "L");
  CHECK(listen_wants(*f, R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})"));
  CHECK_FALSE(
      listen_wants(*f, R"({"jsonrpc":"2.0","method":"notifications/prompts/list_changed"})"));
  CHECK(listen_wants(
      *f,
      R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://1"}})"));
  CHECK_FALSE(listen_wants(
      *f,
      R"({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://2"}})"));
  auto framed = obj(with_subscription(
      R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})", R"("L")"));
  CHECK(framed.at("params").at("_meta").at("io.modelcontextprotocol/subscriptionId").as_string() ==
        "L");
  // No URIs without the server's subscribe capability; no filter, no listen.
  legacy_server plain;
  auto none = honoured_filter(
      R"({"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{
          "resourceSubscriptions":["a://1"]}}})",
      plain);
  REQUIRE(none);
  CHECK(none->uris.empty());
  CHECK_FALSE(
      honoured_filter(R"({"jsonrpc":"2.0","id":1,"method":"subscriptions/listen"})", plain));
}
