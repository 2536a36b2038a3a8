#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/sse_parser.hpp"

using mcpfwd::sse_event;
using mcpfwd::sse_parser;

namespace {
std::vector<sse_event> feed_all(sse_parser& p, const std::vector<std::string>& chunks) {
  std::vector<sse_event> out;
  for (const auto& c : chunks) p.feed(c, out);
  return out;
}
}  // namespace

TEST_CASE("an event with id, type and data is parsed", "[sse]") {
  sse_parser p(1024);
  auto evs = feed_all(p, {"id: 7\nevent: message\ndata: {\"a\":1}\n\n"});
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].id == "7");
  CHECK(evs[0].type == "message");
  CHECK(evs[0].data == "{\"a\":1}");
  CHECK(p.last_event_id() == "7");
}

TEST_CASE("events split anywhere across reads, CRLF and CR line ends", "[sse]") {
  const std::string stream =
      "data: one\r\n\r\nevent: endpoint\rdata: /messages?x=1\r\rdata: a\ndata: b\n\n";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    sse_parser p(1024);
    auto evs = feed_all(p, {stream.substr(0, cut), stream.substr(cut)});
    REQUIRE(evs.size() == 3);
    CHECK(evs[0].data == "one");
    CHECK(evs[1].type == "endpoint");
    CHECK(evs[1].data == "/messages?x=1");
    CHECK(evs[2].data == "a\nb");
  }
}

TEST_CASE("comments and a priming event without data dispatch nothing but move the id", "[sse]") {
  sse_parser p(1024);
  auto evs = feed_all(p, {": keep-alive\n\nid: g1\ndata:\n\n", "id: g2\n\nretry: 2500\n\n"});
  // "data:" with an empty value is data (empty); an event with only an id is not.
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].data.empty());
  CHECK(p.last_event_id() == "g2");
  REQUIRE(p.retry_ms());
  CHECK(*p.retry_ms() == 2500);
}

TEST_CASE("an event over the limit is reported as oversize and the next one is intact", "[sse]") {
  sse_parser p(16);
  auto evs = feed_all(p, {"data: " + std::string(100, 'x') + "\n\n", "data: ok\n\n"});
  REQUIRE(evs.size() == 2);
  CHECK(evs[0].oversize);
  CHECK(evs[0].data.empty());
  CHECK_FALSE(evs[1].oversize);
  CHECK(evs[1].data == "ok");
}

TEST_CASE("a line longer than the limit split across reads is dropped without buffering it",
          "[sse]") {
  sse_parser p(16);
  std::vector<std::string> chunks{"data: "};
  for (int i = 0; i < 100; ++i) chunks.push_back(std::string(1000, 'y'));
  chunks.push_back("\n\ndata: fine\n\n");
  auto evs = feed_all(p, chunks);
  REQUIRE(evs.size() == 2);
  CHECK(evs[0].oversize);
  CHECK(evs[1].data == "fine");
}

TEST_CASE("an oversize event's JSON-RPC id is read as its data is skipped", "[sse][oversize]") {
  const std::string pad(200, 'p');
  const std::string response =
      R"({"result":{"text":")" + pad + R"(","id":1},"jsonrpc":"2.0","id":42})";
  const std::string request = R"({"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage",)" +
                              std::string(R"("params":{"pad":")") + pad + "\"}}";
  SECTION("one long data line, a byte at a time") {
    sse_parser p(64);
    std::vector<std::string> chunks;
    for (char c : "event: message\ndata: " + response + "\n\n") chunks.emplace_back(1, c);
    auto evs = feed_all(p, chunks);
    REQUIRE(evs.size() == 1);
    CHECK(evs[0].oversize);
    CHECK(evs[0].answer->to_receiver.find(R"("id":42,"error":{"code":-32000)") !=
          std::string::npos);
    CHECK(evs[0].answer->to_sender.empty());
  }
  SECTION("data split over several lines, the limit crossed on a later one") {
    sse_parser p(150);
    auto evs = feed_all(p, {"data: " + request.substr(0, 60) + "\ndata: " + request.substr(60) +
                            "\n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"n\"}\n\n"});
    REQUIRE(evs.size() == 2);
    CHECK(evs[0].oversize);
    CHECK(evs[0].answer->to_sender.find(R"("id":"s1","error":{"code":-32600)") !=
          std::string::npos);
    CHECK_FALSE(evs[1].oversize);  // the next event starts afresh
    CHECK_FALSE(evs[1].answer);
  }
  SECTION("a notification needs no answer") {
    sse_parser p(64);
    auto evs =
        feed_all(p, {R"(data: {"jsonrpc":"2.0","method":"notifications/message","params":{"d":")" +
                     pad + "\"}}\n\n"});
    REQUIRE(evs.size() == 1);
    CHECK(evs[0].oversize);
    CHECK(evs[0].answer->to_sender.empty());
    CHECK(evs[0].answer->to_receiver.empty());
  }
}

// Found by tests/fuzz (fuzz_sse_parser): an empty read after a CR forgot the
// CR, so the LF after it became a blank line that dispatched the event early.
TEST_CASE("an empty read between the CR and the LF of a CRLF changes nothing", "[sse][fuzz]") {
  sse_parser p(1024);
  auto evs = feed_all(p, {"data: a\r", "", "\ndata: b\r\n", "", "\r\n"});
  REQUIRE(evs.size() == 1);
  CHECK(evs[0].data == "a\nb");
}
