#include <catch2/catch.hpp>
#include <string>

#include "protocol/jsonrpc_peek.hpp"

using mcpfwd::jsonrpc_peek;

namespace {
// Feeds `s` in pieces of `step` bytes, as a skipped line arrives.
jsonrpc_peek peek(const std::string& s, std::size_t step = 1) {
  jsonrpc_peek p;
  for (std::size_t i = 0; i < s.size(); i += step) p.feed(std::string_view(s).substr(i, step));
  return p;
}
}  // namespace

TEST_CASE("the top-level id of a response is found wherever it is", "[peek]") {
  // Python's SDK writes the id first, Node's writes it after the result.
  for (std::size_t step : {1, 3, 1000}) {
    auto a = peek(R"({"jsonrpc":"2.0","id":7,"result":{"id":99,"text":"x"}})", step);
    CHECK(a.id() == "7");
    CHECK(a.is_response());
    CHECK_FALSE(a.has_method());
    auto b = peek(R"({"result":{"content":[{"id":"inner"}]},"jsonrpc":"2.0","id":"abc"})", step);
    CHECK(b.id() == R"("abc")");
    CHECK(b.is_response());
  }
}

TEST_CASE("strings that look like members do not confuse it", "[peek]") {
  auto p = peek(R"({"result":"\"id\":5, {\"method\":1}","id" : "q\"x" })");
  CHECK(p.id() == R"("q\"x")");
  CHECK(p.is_response());
  CHECK_FALSE(p.has_method());
}

TEST_CASE("a request and an error response are told apart", "[peek]") {
  auto r = peek(R"({"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{}})");
  CHECK(r.has_method());
  CHECK(r.id() == "1");
  auto e = peek(R"({"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"m"}})");
  CHECK(e.is_response());
  CHECK(e.id() == "2");
}

TEST_CASE("no usable id: notifications, batches, bad or huge ids, cut-off input", "[peek]") {
  CHECK(peek(R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"id":3}})")
            .id()
            .empty());
  CHECK(peek(R"([{"jsonrpc":"2.0","id":1,"result":{}}])").id().empty());
  CHECK(peek(R"({"id":{"a":1},"result":{}})").id().empty());
  CHECK(peek(R"({"id":true,"result":{}})").id().empty());
  CHECK(peek(R"({"id":null,"result":{}})").id().empty());
  CHECK(peek("{\"id\":\"" + std::string(300, 'x') + "\",\"result\":{}}").id().empty());
  CHECK(peek(R"({"result":{},"id":12)").id().empty());  // the input ended inside the id
  CHECK(peek(R"(not json at all "id":1)").id().empty());
}

TEST_CASE("an oversize request is refused to its sender, a response replaced", "[peek]") {
  auto req = mcpfwd::answer_oversize(peek(R"({"id":4,"method":"tools/call"})"), 100, false);
  CHECK(req.to_receiver.empty());
  CHECK(req.to_sender.find(R"("id":4,"error":{"code":-32600)") != std::string::npos);
  auto resp = mcpfwd::answer_oversize(peek(R"({"id":"s","result":{}})"), 100, true);
  CHECK(resp.to_sender.empty());
  CHECK(resp.to_receiver.find(R"("id":"s","error":{"code":-32000)") != std::string::npos);
  CHECK(resp.to_receiver.find("server's response was over the 100-byte") != std::string::npos);
  auto note = mcpfwd::answer_oversize(peek(R"({"method":"notifications/x"})"), 100, true);
  CHECK(note.to_sender.empty());
  CHECK(note.to_receiver.empty());
}

// Found by tests/fuzz (fuzz_jsonrpc_peek): an id Boost.JSON reads as infinity
// or NaN was returned as "Infinity"/"NaN", and the answers were not JSON.
TEST_CASE("an id that is not a finite number is no usable id", "[peek][fuzz]") {
  for (const char* id : {"1e400", "-1e400", "-0.0e40708"}) {
    auto p = peek(std::string(R"({"jsonrpc":"2.0","id":)") + id + R"(,"method":"tools/call"})");
    CHECK(p.id().empty());
    auto a = mcpfwd::answer_oversize(p, 100, false);
    CHECK(a.to_sender.empty());
    CHECK(a.to_receiver.empty());
  }
  CHECK(peek(R"({"id":1.5e300,"result":{}})").id() == "1.5E300");
}
