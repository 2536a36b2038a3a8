#include <catch2/catch.hpp>

#include "protocol/message.hpp"

using namespace mcpfwd;

namespace {
struct result {
  bool ok;
  message msg;
  classify_error err;
};
result run(std::string s) {
  result r;
  r.ok = classify(std::move(s), r.msg, r.err);
  return r;
}
}  // namespace

TEST_CASE("a request is classified with its id and method, bytes kept", "[message]") {
  const std::string raw = R"({"jsonrpc":"2.0", "id":7,"method":"tools/call" ,"params":{}})";
  auto r = run(raw);
  REQUIRE(r.ok);
  CHECK(r.msg.info.kind == message_kind::request);
  CHECK(r.msg.info.id == "7");
  CHECK(r.msg.info.method == "tools/call");
  CHECK(r.msg.raw == raw);  // unchanged, odd spacing included
}

TEST_CASE("string ids keep their JSON spelling", "[message]") {
  auto r = run(R"({"jsonrpc":"2.0","id":"a\"b","method":"ping"})");
  REQUIRE(r.ok);
  CHECK(r.msg.info.id == R"("a\"b")");
}

TEST_CASE("notifications, responses and errors are told apart", "[message]") {
  SECTION("notification") {
    auto r = run(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    REQUIRE(r.ok);
    CHECK(r.msg.info.kind == message_kind::notification);
    CHECK(r.msg.info.id.empty());
  }
  SECTION("response") {
    auto r = run(R"({"jsonrpc":"2.0","id":"x","result":{}})");
    REQUIRE(r.ok);
    CHECK(r.msg.info.kind == message_kind::response);
  }
  SECTION("error response, also with a null id") {
    auto r = run(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}})");
    REQUIRE(r.ok);
    CHECK(r.msg.info.kind == message_kind::error);
  }
}

TEST_CASE("malformed JSON is a parse error with a null id", "[message]") {
  for (const char* s : {"{", "not json", R"({"jsonrpc":"2.0",})", "\x80\x81"}) {
    auto r = run(s);
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == rpc_error::parse_error);
    CHECK(r.err.id.empty());
  }
}

TEST_CASE("invalid UTF-8 inside a string is a parse error", "[message][utf8]") {
  auto r = run("{\"jsonrpc\":\"2.0\",\"method\":\"x\xff\"}");
  CHECK_FALSE(r.ok);
  CHECK(r.err.code == rpc_error::parse_error);
}

TEST_CASE("valid UTF-8 passes and is kept byte for byte", "[message][utf8]") {
  const std::string raw =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"t\":\"h\xc3\xa9llo "
      "\xf0\x9f\x98\x80\"}}";
  auto r = run(raw);
  REQUIRE(r.ok);
  CHECK(r.msg.raw == raw);
}

TEST_CASE("JSON that is not JSON-RPC is an invalid request", "[message]") {
  SECTION("not an object") {
    auto r = run("42");
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == rpc_error::invalid_request);
  }
  SECTION("wrong version") {
    auto r = run(R"({"jsonrpc":"1.0","id":1,"method":"x"})");
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == rpc_error::invalid_request);
    CHECK(r.err.id == "1");  // readable id is echoed
  }
  SECTION("no method, result or error") {
    auto r = run(R"({"jsonrpc":"2.0","id":7})");
    CHECK_FALSE(r.ok);
    CHECK(r.err.id == "7");
  }
  SECTION("method not a string") {
    auto r = run(R"({"jsonrpc":"2.0","id":1,"method":5})");
    CHECK_FALSE(r.ok);
  }
  SECTION("request with a null id") {
    auto r = run(R"({"jsonrpc":"2.0","id":null,"method":"x"})");
    CHECK_FALSE(r.ok);
  }
  SECTION("both result and error") {
    auto r = run(R"({"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":""}})");
    CHECK_FALSE(r.ok);
  }
  SECTION("params not structured") {
    auto r = run(R"({"jsonrpc":"2.0","id":1,"method":"x","params":3})");
    CHECK_FALSE(r.ok);
  }
}

TEST_CASE("batches are classified element by element", "[message][batch]") {
  auto r = run(R"([{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}])");
  REQUIRE(r.ok);
  CHECK(r.msg.info.kind == message_kind::batch);
  REQUIRE(r.msg.batch.size() == 2);
  CHECK(r.msg.batch[0].kind == message_kind::request);
  CHECK(r.msg.batch[1].kind == message_kind::notification);

  CHECK_FALSE(run("[]").ok);
  auto bad = run(R"([{"jsonrpc":"2.0","id":1,"method":"a"}, 3])");
  CHECK_FALSE(bad.ok);
  CHECK(bad.err.code == rpc_error::invalid_request);
}

TEST_CASE("error responses are single-line JSON-RPC", "[message]") {
  CHECK(make_error_response("", -32700, "Parse error") ==
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})");
  CHECK(make_error_response(R"("x")", -32000, "line\nbreak \"q\"") ==
        R"({"jsonrpc":"2.0","id":"x","error":{"code":-32000,"message":"line\nbreak \"q\""}})");
}

TEST_CASE("a batch reply joins its elements into one JSON array", "[message][batch]") {
  CHECK(join_batch({}) == "[]");
  CHECK(join_batch({R"({"id":1})"}) == R"([{"id":1}])");
  CHECK(join_batch({R"({"id":2})", R"({"id":1})"}) == R"([{"id":2},{"id":1}])");
}

// Found by tests/fuzz (fuzz_jsonrpc_peek, fuzz_classify): Boost.JSON reads
// 1e400 as infinity and 0e400 as NaN, which serialize as Infinity and NaN,
// not JSON; such an id went into the in-flight table and into error replies.
TEST_CASE("an id or progress token that is not a finite number is not an id", "[message][fuzz]") {
  for (const char* id : {"1e400", "-1e400", "0e400"}) {
    auto r = run(std::string(R"({"jsonrpc":"2.0","id":)") + id + R"(,"method":"x"})");
    CHECK_FALSE(r.ok);
    CHECK(r.err.code == rpc_error::invalid_request);
    CHECK(r.err.id.empty());
    CHECK_FALSE(run(std::string(R"({"jsonrpc":"2.0","id":)") + id + R"(,"result":{}})").ok);
  }
  auto n = run(R"({"jsonrpc":"2.0","method":"notifications/progress",)"
               R"("params":{"progressToken":1e400,"progress":1}})");
  REQUIRE(n.ok);
  CHECK(n.msg.info.progress_token.empty());
  auto q = run(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":0e400}}})");
  REQUIRE(q.ok);
  CHECK(q.msg.info.progress_token.empty());
  auto f = run(R"({"jsonrpc":"2.0","id":1.5e300,"method":"x"})");  // finite: still an id
  REQUIRE(f.ok);
  CHECK(f.msg.info.id == "1.5E300");
}

// Found by tests/fuzz (fuzz_classify's split_batch check): the elements of a
// batch were re-serialized by Boost.JSON, so a number it cannot hold went out
// changed (1e400 as Infinity, not JSON: the server could not read the request
// and it was never answered; a 30-digit integer rounded to a double).
TEST_CASE("a batch splits into its elements' own bytes", "[message][batch][fuzz]") {
  const std::string a = R"({"jsonrpc":"2.0","id":1,"method":"a","params":{"x":1e400,"y":-0e999}})";
  const std::string b =
      R"({ "jsonrpc" : "2.0", "method":"b,]}","params":[123456789012345678901234567890, "\"]"] })";
  const std::string c = R"({"jsonrpc":"2.0","id":"[","result":{"v":[[],{}]}})";
  auto r = run(" [" + a + ",\n\t" + b + " , " + c + "]\r\n");
  REQUIRE(r.ok);
  std::vector<message> parts;
  REQUIRE(split_batch(r.msg, parts));
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].raw == a);
  CHECK(parts[1].raw == b);
  CHECK(parts[2].raw == c);
  CHECK(parts[0].info.id == "1");
  CHECK(parts[1].info.method == "b,]}");
  CHECK(parts[2].info.kind == message_kind::response);
  for (const auto& p : parts) {
    message one;
    classify_error err;
    CHECK(classify(p.raw, one, err));
  }
  auto single = run(a);
  REQUIRE(single.ok);
  CHECK_FALSE(split_batch(single.msg, parts));  // not a batch
}

// Found by tests/fuzz (fuzz_http_request): a refusal echoes the Host or
// MCP-Protocol-Version header in its message, and a header may hold any
// byte; invalid UTF-8 went into the JSON string as it was, so the error
// body was not JSON.
TEST_CASE("an error message that is not UTF-8 still makes a JSON error", "[message][fuzz]") {
  const std::string bad = "a\xc2 b\xff c\xed\xa0\x80 d\xf4\x90\x80\x80 e\xe2\x82";
  const std::string s = make_error_response("7", -32600, "Host '" + bad + "'");
  message m;
  classify_error err;
  REQUIRE(classify(s, m, err));  // JSON, and a JSON-RPC error
  CHECK(m.info.kind == message_kind::error);
  CHECK(s.find("a\xef\xbf\xbd b\xef\xbf\xbd c") != std::string::npos);  // U+FFFD
  // valid UTF-8 is kept as it is
  const std::string ok = make_error_response("", 1, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  CHECK(ok.find("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") != std::string::npos);
}
