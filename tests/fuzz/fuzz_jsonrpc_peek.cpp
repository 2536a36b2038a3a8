// The oversize peek (protocol/jsonrpc_peek.hpp): any bytes, fed whole and a
// byte at a time. Checked:
//   - the result does not depend on how the bytes were cut;
//   - id() is "" or a string or number as JSON text, and answer_oversize
//     gives valid JSON-RPC errors carrying it, to the side the header says;
//   - for a JSON object (as Boost.JSON parses it, nested up to 64), the peek
//     agrees with the parse: it never names an id, a method or a result the
//     object does not have, nor an id other than the object's (except with
//     two members both named "id", one of them spelt with an escape: the
//     peek reads member names as written);
//   - and on that object serialized canonically (no escapes in member names,
//     no whitespace), it finds exactly the object's id (when a string or a
//     number of at most 256 bytes of JSON), "method", "result" and "error";
//   - answer_unreadable (a whole message classify() refused) answers what a
//     peek of the same bytes saw, as answer_oversize does.
#include <cstdint>
#include <string>

#include <boost/json/basic_parser_impl.hpp>

#include "fuzz_util.hpp"

namespace json = boost::json;
using mcpfwd::jsonrpc_peek;

namespace {

// Counts the top-level members named "id" (after unescaping), which
// json::parse cannot tell: it keeps the last of equal names.
struct id_counter {
  constexpr static std::size_t max_object_size = std::size_t(-1);
  constexpr static std::size_t max_array_size = std::size_t(-1);
  constexpr static std::size_t max_key_size = std::size_t(-1);
  constexpr static std::size_t max_string_size = std::size_t(-1);
  int depth = 0;
  int ids = 0;
  std::string key;
  using ec = boost::system::error_code;
  bool on_document_begin(ec&) { return true; }
  bool on_document_end(ec&) { return true; }
  bool on_object_begin(ec&) { return ++depth, true; }
  bool on_object_end(std::size_t, ec&) { return --depth, true; }
  bool on_array_begin(ec&) { return ++depth, true; }
  bool on_array_end(std::size_t, ec&) { return --depth, true; }
  bool on_key_part(json::string_view s, std::size_t, ec&) { return key.append(s), true; }
  bool on_key(json::string_view s, std::size_t, ec&) {
    key.append(s);
    if (depth == 1 && key == "id") ++ids;
    key.clear();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, ec&) { return true; }
  bool on_string(json::string_view, std::size_t, ec&) { return true; }
  bool on_number_part(json::string_view, ec&) { return true; }
  bool on_int64(std::int64_t, json::string_view, ec&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, ec&) { return true; }
  bool on_double(double, json::string_view, ec&) { return true; }
  bool on_bool(bool, ec&) { return true; }
  bool on_null(ec&) { return true; }
  bool on_comment_part(json::string_view, ec&) { return true; }
  bool on_comment(json::string_view, ec&) { return true; }
};

int top_level_ids(std::string_view text) {
  json::parse_options opt;
  opt.max_depth = 64;
  json::basic_parser<id_counter> p(opt);
  boost::system::error_code ec;
  p.write_some(false, text.data(), text.size(), ec);
  return ec ? -1 : p.handler().ids;
}

void check_answers(const jsonrpc_peek& p) {
  const std::string id = p.id();
  if (!id.empty()) {
    json::value v;
    FUZZ_CHECK(fuzz::parse_json(id, v) && fuzz::is_id_value(v));
  }
  for (const bool from_server : {false, true})
    fuzz::check_oversize_answer(mcpfwd::answer_oversize(p, 1000, from_server), p);
}

void check_unreadable(std::string_view text, const jsonrpc_peek& p) {
  for (const bool from_server : {false, true})
    fuzz::check_oversize_answer(
        mcpfwd::answer_unreadable(text, "Parse error: \"quoted\" \\ and \x01", from_server), p);
}

bool same(const jsonrpc_peek& a, const jsonrpc_peek& b) {
  return a.id() == b.id() && a.has_method() == b.has_method() && a.is_response() == b.is_response();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  jsonrpc_peek whole;
  whole.feed(text);
  jsonrpc_peek bytes;
  for (std::size_t i = 0; i < text.size(); ++i) bytes.feed(text.substr(i, 1));
  bytes.feed({});
  FUZZ_CHECK(same(whole, bytes));
  check_answers(whole);
  jsonrpc_peek reused;  // reset() forgets everything
  reused.feed(R"({"id":1,"method":"x","result":0})");
  reused.reset();
  reused.feed(text);
  FUZZ_CHECK(same(whole, reused));
  check_unreadable(text, whole);

  json::value v;
  if (!fuzz::parse_json(text, v, 64) || !v.is_object()) {
    // Not an object: nothing to answer, whatever a prefix looked like.
    if (fuzz::parse_json(text, v, 64)) FUZZ_CHECK(whole.id().empty());
    return 0;
  }
  const json::object& o = v.get_object();
  const json::value* id = o.if_contains("id");

  // Sound on the bytes as they are.
  if (whole.has_method()) FUZZ_CHECK(o.contains("method"));
  if (whole.is_response()) FUZZ_CHECK(o.contains("result") || o.contains("error"));
  if (!whole.id().empty()) {
    FUZZ_CHECK(id != nullptr);
    if (top_level_ids(text) == 1) FUZZ_CHECK(fuzz::same_id(whole.id(), json::serialize(*id)));
  }

  // Exact on the canonical text.
  const std::string canonical = json::serialize(o);
  jsonrpc_peek c;
  c.feed(canonical);
  std::string want_id;
  if (id != nullptr && fuzz::is_id_value(*id)) {
    want_id = json::serialize(*id);
    if (want_id.size() > 256) want_id.clear();
  }
  FUZZ_CHECK(fuzz::same_id(c.id(), want_id));
  FUZZ_CHECK(c.has_method() == o.contains("method"));
  FUZZ_CHECK(c.is_response() == (o.contains("result") || o.contains("error")));
  check_answers(c);
  return 0;
}
