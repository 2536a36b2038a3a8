// Shared helpers of the fuzz targets: invariant checks that abort (libFuzzer
// then saves the input as a crash), and the split-feeding input format.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "protocol/jsonrpc_peek.hpp"

// Checked in every build type (assert() would vanish under NDEBUG).
#define FUZZ_CHECK(cond)                                  \
  do {                                                    \
    if (!(cond)) ::fuzz::fail(#cond, __FILE__, __LINE__); \
  } while (0)

namespace fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "\n==fuzz== invariant violated: %s\n==fuzz== at %s:%d\n", what, file, line);
  std::abort();
}

// The input of the targets that take a stream (framer, SSE parser):
//   byte 0     the limit (0..255 bytes: small, so the oversize paths run)
//   byte 1     bits 0-3: n, the number of explicit chunk lengths that follow;
//              bits 4-6: m, how the rest is cut: pieces of 2^m bytes, and
//              m = 7 means the rest in one piece
//   n bytes    the explicit chunk lengths (0..255; 0 is an empty read)
//   the rest   the payload
// A file shorter than that is all payload with limit 255, in one piece, so a
// hand-written seed can be plain text.
struct stream_input {
  std::size_t limit = 255;
  std::string_view payload;
  std::vector<std::string_view> chunks;  // payload, cut where the input says
};

inline stream_input split_input(const std::uint8_t* data, std::size_t size) {
  stream_input in;
  const auto* text = reinterpret_cast<const char*>(data);
  std::size_t n = size >= 2 ? (data[1] & 0x0f) : 0;
  if (size < 2 + n) {
    in.payload = std::string_view(text, size);
    in.chunks.push_back(in.payload);
    return in;
  }
  in.limit = data[0];
  const unsigned mode = (data[1] >> 4) & 0x07;
  in.payload = std::string_view(text + 2 + n, size - 2 - n);
  std::string_view rest = in.payload;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t len = std::min<std::size_t>(data[2 + i], rest.size());
    in.chunks.push_back(rest.substr(0, len));
    rest.remove_prefix(len);
  }
  const std::size_t piece = mode == 7 ? rest.size() : (std::size_t{1} << mode);
  while (!rest.empty()) {
    in.chunks.push_back(rest.substr(0, piece));
    rest.remove_prefix(std::min(piece, rest.size()));
  }
  return in;
}

// Parses `text` as JSON, nested up to `depth`; null when it is not JSON.
inline bool parse_json(std::string_view text, boost::json::value& out, std::size_t depth = 64) {
  boost::json::parse_options opt;
  opt.max_depth = depth;
  boost::system::error_code ec;
  out = boost::json::parse(text, ec, {}, opt);
  return !ec;
}

// An id or a progress token: a string or a number that is JSON (finite: what
// Boost.JSON reads 1e400 or 0e400 as serializes as Infinity or NaN).
inline bool is_id_value(const boost::json::value& v) {
  if (const double* d = v.if_double()) return std::isfinite(*d);
  return v.is_string() || v.is_number();
}

// The same id. Boost.JSON 1.81 parses numbers with up to an ulp or two of
// error (precise parsing came later), so a double with 17 significant digits
// may not survive serialize-then-parse exactly: such values are the same id
// when they differ by a few ulps. Everything else must be equal.
inline bool same_id(const boost::json::value& a, const boost::json::value& b) {
  if (a == b) return true;
  const double* x = a.if_double();
  const double* y = b.if_double();
  if (x == nullptr || y == nullptr) return false;
  double lo = std::min(*x, *y);
  for (int i = 0; i < 4; ++i) lo = std::nextafter(lo, HUGE_VAL);
  return lo >= std::max(*x, *y);
}

// Two ids as JSON text: both "" (none), or the same id.
inline bool same_id(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  boost::json::value x, y;
  return parse_json(a, x) && parse_json(b, y) && same_id(x, y);
}

// An error response built by make_error_response: valid JSON, the JSON-RPC
// 2.0 shape, the given id (JSON text, "" for null) and code.
inline void check_error_response(const std::string& s, const std::string& id, int code) {
  boost::json::value v;
  FUZZ_CHECK(parse_json(s, v));
  const boost::json::object* o = v.if_object();
  FUZZ_CHECK(o != nullptr);
  FUZZ_CHECK(o->size() == 3);
  FUZZ_CHECK(o->contains("jsonrpc") && o->at("jsonrpc") == "2.0");
  FUZZ_CHECK(o->contains("id"));
  FUZZ_CHECK(id.empty() ? o->at("id").is_null() : same_id(boost::json::serialize(o->at("id")), id));
  const boost::json::object* e = o->contains("error") ? o->at("error").if_object() : nullptr;
  FUZZ_CHECK(e != nullptr && e->size() == 2);
  FUZZ_CHECK(e->contains("code") && e->at("code").is_int64() && e->at("code").as_int64() == code);
  FUZZ_CHECK(e->contains("message") && e->at("message").is_string());
}

// What answer_oversize promises for what a peek saw (jsonrpc_peek.hpp): a
// request is refused to its sender (-32600), a response replaced for its
// receiver (-32000), anything else needs nothing; never both.
inline void check_oversize_answer(const mcpfwd::oversize_answer& a, const mcpfwd::jsonrpc_peek& p) {
  const std::string id = p.id();
  const bool request = !id.empty() && p.has_method();
  const bool response = !id.empty() && !p.has_method() && p.is_response();
  FUZZ_CHECK(a.to_sender.empty() == !request);
  FUZZ_CHECK(a.to_receiver.empty() == !response);
  if (request) check_error_response(a.to_sender, id, -32600);
  if (response) check_error_response(a.to_receiver, id, -32000);
}

}  // namespace fuzz
