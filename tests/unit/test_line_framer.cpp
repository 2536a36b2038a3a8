#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/line_framer.hpp"

using mcpfwd::line_framer;

namespace {
struct recorder : line_framer::sink {
  std::vector<std::string> lines;
  std::vector<std::size_t> oversize;
  void on_line(std::string l) override { lines.push_back(std::move(l)); }
  void on_oversize(std::size_t n) override { oversize.push_back(n); }
  std::string skipped;
  int ended = 0;
  void on_skipped(std::string_view b) override { skipped.append(b); }
  void on_oversize_end() override { ++ended; }
};
}  // namespace

TEST_CASE("several messages in one read come out in order", "[framer]") {
  line_framer f(1024);
  recorder r;
  f.feed("a\nbb\nccc\n", r);
  CHECK(r.lines == std::vector<std::string>{"a", "bb", "ccc"});
  CHECK(f.pending() == 0);
}

TEST_CASE("a message split across reads is joined", "[framer]") {
  line_framer f(1024);
  recorder r;
  f.feed("{\"a\":", r);
  CHECK(r.lines.empty());
  f.feed("1}", r);
  CHECK(r.lines.empty());
  f.feed("\n{\"b\"", r);
  CHECK(r.lines == std::vector<std::string>{"{\"a\":1}"});
  f.feed(":2}\n", r);
  CHECK(r.lines.back() == "{\"b\":2}");
}

TEST_CASE("byte-at-a-time input frames the same", "[framer]") {
  line_framer f(1024);
  recorder r;
  for (char c : std::string("xy\r\nz\n")) f.feed(std::string_view(&c, 1), r);
  CHECK(r.lines == std::vector<std::string>{"xy", "z"});
}

TEST_CASE("CRLF endings lose the CR, lone CRs inside stay", "[framer]") {
  line_framer f(1024);
  recorder r;
  f.feed("a\r\nb\rc\n", r);
  CHECK(r.lines == std::vector<std::string>{"a", "b\rc"});
  SECTION("CR at the end of one read, LF at the start of the next") {
    f.feed("d\r", r);
    f.feed("\n", r);
    CHECK(r.lines.back() == "d");
  }
}

TEST_CASE("UTF-8 bytes, including multi-byte split across reads, pass intact", "[framer][utf8]") {
  line_framer f(1024);
  recorder r;
  const std::string s = "h\xc3\xa9llo \xf0\x9f\x98\x80";
  f.feed(s.substr(0, 2), r);  // cuts the 2-byte sequence
  f.feed(s.substr(2, 6), r);  // cuts the 4-byte sequence
  f.feed(s.substr(8) + "\n", r);
  REQUIRE(r.lines.size() == 1);
  CHECK(r.lines[0] == s);
}

TEST_CASE("an oversize line is reported once and skipped without buffering", "[framer][oversize]") {
  line_framer f(8);
  recorder r;
  f.feed("12345678\n", r);  // exactly at the limit: fine
  CHECK(r.lines.size() == 1);
  f.feed("123456789012", r);  // over, no newline yet
  CHECK(r.oversize.size() == 1);
  CHECK(f.discarding());
  CHECK(f.pending() == 0);  // nothing buffered
  for (int i = 0; i < 1000; ++i) f.feed("xxxxxxxxxxxxxxxx", r);
  CHECK(r.oversize.size() == 1);
  CHECK(f.pending() == 0);
  f.feed("tail\nok\n", r);
  CHECK_FALSE(f.discarding());
  CHECK(r.lines.back() == "ok");
  CHECK(r.lines.size() == 2);
}

TEST_CASE("an oversize line within one read is skipped, its neighbours kept",
          "[framer][oversize]") {
  line_framer f(4);
  recorder r;
  f.feed("ab\ntoolong\ncd\n", r);
  CHECK(r.lines == std::vector<std::string>{"ab", "cd"});
  CHECK(r.oversize.size() == 1);
}

TEST_CASE("the CR of a CRLF does not count against the limit", "[framer][oversize]") {
  line_framer f(4);
  recorder r;
  f.feed("abcd\r\n", r);
  CHECK(r.lines == std::vector<std::string>{"abcd"});
  CHECK(r.oversize.empty());
}

TEST_CASE("an unterminated last line is available at end of input", "[framer]") {
  line_framer f(64);
  recorder r;
  f.feed("a\nlast", r);
  CHECK(f.take_partial() == "last");
}

TEST_CASE("the bytes of an oversize line are shown to the sink as they are skipped",
          "[framer][oversize]") {
  line_framer f(8);
  recorder r;
  const std::string line = R"({"id":7,"result":"0123456789abcdef"})";
  SECTION("in one read") {
    f.feed("ok\n" + line + "\nafter\n", r);
  }
  SECTION("a byte at a time") {
    for (char c : "ok\n" + line + "\nafter\n") f.feed(std::string_view(&c, 1), r);
  }
  CHECK(r.skipped == line);
  CHECK(r.ended == 1);
  CHECK(r.lines == std::vector<std::string>{"ok", "after"});
}

TEST_CASE("an oversize line cut off by the end of input is ended by finish()",
          "[framer][oversize]") {
  line_framer f(4);
  recorder r;
  f.feed("0123456789", r);
  CHECK(r.ended == 0);
  f.finish(r);
  CHECK(r.ended == 1);
  CHECK(r.skipped == "0123456789");
  f.finish(r);  // once only
  CHECK(r.ended == 1);
}

// Found by tests/fuzz (fuzz_line_framer): the '\r' of a line exactly at the
// limit, arriving in a read before its '\n', made the line oversize.
TEST_CASE("a line at the limit whose CRLF is split across reads is a line",
          "[framer][oversize][fuzz]") {
  line_framer f(4);
  recorder r;
  SECTION("the CR ends a read") {
    f.feed("abcd\r", r);
    f.feed("\n", r);
  }
  SECTION("a byte at a time") {
    for (char c : std::string("abcd\r\n")) f.feed(std::string_view(&c, 1), r);
  }
  CHECK(r.lines == std::vector<std::string>{"abcd"});
  CHECK(r.oversize.empty());
  CHECK(r.ended == 0);
}

TEST_CASE("an unterminated last line over the limit is oversize, not delivered",
          "[framer][oversize][fuzz]") {
  line_framer f(4);
  recorder r;
  f.feed("ok\nabcde", r);  // one byte over: held in case a "\r\n" follows
  f.finish(r);
  CHECK(r.lines == std::vector<std::string>{"ok"});
  CHECK(r.oversize == std::vector<std::size_t>{5});
  CHECK(r.skipped == "abcde");
  CHECK(r.ended == 1);
  CHECK(f.take_partial().empty());
}
