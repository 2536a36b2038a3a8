// The stateless era's facts (protocol/era.hpp) and the router's decisions
// for its requests, with no socket.
#include "protocol/era.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "server/router.hpp"

using namespace mcpfwd;
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

json::object request(std::string method, json::object params = {}) {
  params["_meta"] = json::object{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                                 {"io.modelcontextprotocol/clientCapabilities", json::object()}};
  return json::object{{"jsonrpc", "2.0"}, {"id", 3}, {"method", method}, {"params", params}};
}

routing_headers headers(std::string_view method, std::optional<std::string_view> name = {}) {
  routing_headers h;
  h.version = "2026-07-28";
  h.method = method;
  h.name = name;
  return h;
}

}  // namespace

TEST_CASE("era: a version header that is not a handshake version is the stateless era") {
  CHECK_FALSE(header_says_modern("", false));
  CHECK_FALSE(header_says_modern("2025-11-25", true));
  CHECK_FALSE(header_says_modern("2024-11-05", true));
  CHECK(header_says_modern("2026-07-28", true));
  CHECK(header_says_modern("2099-01-01", true));  // unknown: modern, so that it gets -32022
  CHECK(is_modern_version("2026-07-28"));
  CHECK_FALSE(is_modern_version("2099-01-01"));
}

TEST_CASE("era: the ladder, first failure wins, in the SDK servers' order") {
  const auto call = request("tools/call", {{"name", "echo"}});
  CHECK_FALSE(check_modern_request(call, headers("tools/call", "echo")));

  auto h = headers("tools/call", "echo");
  h.duplicated = "Mcp-Method";
  auto r = check_modern_request(call, h);
  REQUIRE(r);
  CHECK((r->status == 400 && r->code == -32020));

  auto no_meta = call;
  no_meta["params"].as_object().erase("_meta");
  r = check_modern_request(no_meta, headers("tools/call", "echo"));
  REQUIRE(r);
  CHECK((r->status == 400 && r->code == -32602));

  r = check_modern_request(call, headers("tools/list", "echo"));  // Mcp-Method disagrees
  REQUIRE(r);
  CHECK(r->code == -32020);
  r = check_modern_request(call, headers("tools/call", "other"));  // Mcp-Name disagrees
  REQUIRE(r);
  CHECK(r->code == -32020);
  r = check_modern_request(call, headers("tools/call"));  // Mcp-Name missing
  REQUIRE(r);
  CHECK(r->code == -32020);
  // A base64-encoded Mcp-Name is decoded before the comparison ("echo").
  CHECK_FALSE(check_modern_request(call, headers("tools/call", "=?base64?ZWNobw==?=")));

  auto future = call;
  future["params"].as_object()["_meta"].as_object()["io.modelcontextprotocol/protocolVersion"] =
      "2099-01-01";
  auto hf = headers("tools/call", "echo");
  hf.version = "2099-01-01";
  r = check_modern_request(future, hf);
  REQUIRE(r);
  CHECK((r->status == 400 && r->code == -32022));
  const json::value data = json::parse(r->data_json);
  CHECK(data.at("supported").as_array().size() == 1);
  CHECK(data.at("requested") == "2099-01-01");
  // the header and the body agreeing comes before the version
  r = check_modern_request(future, headers("tools/call", "echo"));
  REQUIRE(r);
  CHECK(r->code == -32020);

  r = check_modern_request(request("ping"), headers("ping"));
  REQUIRE(r);
  CHECK((r->status == 404 && r->code == -32601));
}

TEST_CASE("era: error codes map to the HTTP status of a modern answer") {
  CHECK(http_status_for_error(-32700) == 400);
  CHECK(http_status_for_error(-32602) == 400);
  CHECK(http_status_for_error(-32022) == 400);
  CHECK(http_status_for_error(-32601) == 404);
  CHECK(http_status_for_error(-32603) == 200);
  CHECK(http_status_for_error(-32000) == 200);
}

TEST_CASE("era: header values in base64 decode, malformed ones do not") {
  CHECK(decode_header_value("plain") == "plain");
  CHECK(decode_header_value("=?base64?w6l0w6k=?=") == "\xc3\xa9t\xc3\xa9");
  CHECK_FALSE(decode_header_value("=?base64?a*b=?="));
  CHECK_FALSE(decode_header_value("=?base64?abc?="));
}

TEST_CASE("era: ids, progress tokens and subscription ids are rewritten and found") {
  const std::string req =
      R"({"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"_meta":{"progressToken":"p"}}})";
  const json::value r = json::parse(with_request_id(req, "17", "17"));
  CHECK(r.at("id") == 17);
  CHECK(r.at("params").at("_meta").at("progressToken") == 17);
  CHECK(
      json::parse(with_response_id(R"({"jsonrpc":"2.0","id":17,"result":{}})", "\"a\"")).at("id") ==
      "a");
  CHECK(
      json::parse(
          with_progress_token(
              R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":17,"progress":1}})",
              "\"p\""))
          .at("params")
          .at("progressToken") == "p");
  const std::string frame =
      R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":4}}})";
  CHECK(subscription_id_of(frame) == "4");
  CHECK(subscription_id_of(R"({"jsonrpc":"2.0","method":"x"})").empty());
  CHECK(subscription_id_of(with_subscription_id(frame, "\"listen-1\"")) == "\"listen-1\"");
  CHECK(with_request_id("not json", "1", "").empty());
}

TEST_CASE("era: a probe's answer says modern only when it names a modern version") {
  CHECK(probe_says_modern(
      R"({"jsonrpc":"2.0","id":0,"result":{"supportedVersions":["2026-07-28"],"capabilities":{}}})"));
  CHECK_FALSE(probe_says_modern(
      R"({"jsonrpc":"2.0","id":0,"result":{"supportedVersions":["2025-11-25"]}})"));
  CHECK(probe_says_modern(
      R"({"jsonrpc":"2.0","id":0,"error":{"code":-32022,"message":"x","data":{"supported":["2026-07-28"]}}})"));
  CHECK_FALSE(probe_says_modern(
      R"({"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"Method not found"}})"));
  CHECK_FALSE(probe_says_modern("garbage"));
  const json::value probe = json::parse(modern_probe_request("0"));
  CHECK(probe.at("method") == "server/discover");
  CHECK(probe.at("params").at("_meta").at("io.modelcontextprotocol/protocolVersion") ==
        "2026-07-28");
}

TEST_CASE("router: a stateless-era request is routed by its version header, POST only") {
  proxy_config cfg;
  cfg.listen_host = "127.0.0.1";
  router r(cfg, 8931, true);
  http::request_header<> h;
  h.method(http::verb::get);
  h.target("/mcp");
  h.version(11);
  h.set(http::field::host, "127.0.0.1:8931");
  h.set("MCP-Protocol-Version", "2026-07-28");
  auto decided = r.on_head(h, false, {});
  CHECK(decided.kind == route_kind::refuse);
  CHECK(decided.refusal.status == http::status::method_not_allowed);
  h.method(http::verb::post);
  h.set("Mcp-Method", "tools/list");
  h.set("Mcp-Session-Id", "ignored");  // a modern server ignores it
  decided = r.on_head(h, false, {});
  REQUIRE(decided.kind == route_kind::modern_post);
  CHECK(decided.mcp_method == "tools/list");
  message msg;
  auto f = r.on_body(decided, json::serialize(request("tools/list")), msg);
  CHECK_FALSE(f);
  CHECK(msg.info.method == "tools/list");
  f = r.on_body(decided, "[1,2]", msg);
  REQUIRE(f);
  CHECK(f->status == http::status::bad_request);
}

TEST_CASE("era: Mcp-Param headers agree with the arguments their schema marks (SEP-2243)") {
  const json::value schema = json::parse(R"({"type":"object","properties":{
      "region":{"type":"string","x-mcp-header":"Region"},
      "n":{"type":"integer","x-mcp-header":"N"},
      "opts":{"type":"object","properties":{"deep":{"type":"boolean","x-mcp-header":"Deep"}}},
      "free":{"type":"string"}}})");
  const auto params = header_params(schema);
  REQUIRE(params.size() == 3);
  using H = std::vector<std::pair<std::string, std::string>>;
  const json::object args =
      json::parse(R"({"region":"Hello","n":42,"opts":{"deep":true},"free":"x"})").as_object();
  const H good{{"Mcp-Param-Region", "Hello"}, {"mcp-param-n", "42"}, {"Mcp-Param-Deep", "true"}};
  CHECK_FALSE(check_param_headers(params, &args, good));
  // base64 for what is not plain ASCII; the canonical spelling only
  const json::object accented = json::parse(R"({"region":"été"})").as_object();
  CHECK_FALSE(
      check_param_headers(params, &accented, {{"Mcp-Param-Region", "=?base64?w6l0w6k=?="}}));
  auto code = [&](const json::object& a, const H& h) {
    auto r = check_param_headers(params, &a, h);
    return r ? r->code : 0;
  };
  H wrong = good;
  wrong[0].second = "Goodbye";
  CHECK(code(args, wrong) == -32020);
  H missing(good.begin() + 1, good.end());
  CHECK(code(args, missing) == -32020);
  H twice = good;
  twice.emplace_back("Mcp-Param-Region", "Hello");
  CHECK(code(args, twice) == -32020);
  H bad_b64 = good;
  bad_b64[0].second = "=?base64?SGVsbG8?=";  // "Hello" without its padding
  CHECK(code(args, bad_b64) == -32020);
  H non_ascii = good;
  non_ascii[0].second = "H\xc3\xa9llo";
  CHECK(code(args, non_ascii) == -32020);
  const json::object without = json::parse(R"({"n":42,"opts":{"deep":true}})").as_object();
  CHECK(code(without, good) == -32020);  // a header for an absent argument
  // 42 matches 42.0 for an integer
  const json::object floaty =
      json::parse(R"({"region":"Hello","n":42.0,"opts":{"deep":true}})").as_object();
  CHECK_FALSE(check_param_headers(params, &floaty, good));
  // An invalid annotation (on a number) declares nothing.
  CHECK(header_params(
            json::parse(
                R"({"type":"object","properties":{"x":{"type":"number","x-mcp-header":"X"}}})"))
            .empty());
}
