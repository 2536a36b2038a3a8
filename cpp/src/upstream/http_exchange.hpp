// The pieces of one HTTP exchange with an upstream, shared by the session
// upstream (http_upstream) and the stateless-era forwarder (modern_forward):
// write a request and read the response head within a deadline, read a body
// in pieces or whole (bounded), and the lease that returns a pooled
// connection to its pool however the coroutine holding it ends.
#pragma once
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/beast/http.hpp>

#include "io/http_client.hpp"

namespace mcpfwd {

namespace http = beast::http;
using request_t = http::request<http::string_body>;
using parser_t = http::response_parser<http::buffer_body>;

inline constexpr std::size_t read_chunk = 16 * 1024;

inline std::string status_text(const parser_t& p) {
  const auto& h = p.get();
  std::string s = "HTTP " + std::to_string(h.result_int());
  if (!h.reason().empty()) s += " " + std::string(h.reason());
  return s;
}

inline bool is_event_stream(std::string_view ct) {
  return ct.substr(0, ct.find(';')).find("text/event-stream") != std::string_view::npos;
}

inline std::string io_error_text(const error_code& ec, const remote_options& o) {
  if (ec == beast::error::timeout)
    return "upstream timed out: no answer within " + std::to_string(o.timeout.count()) + " ms";
  if (ec == http::error::end_of_stream || ec == net::error::eof)
    return "upstream closed the connection before answering";
  return "upstream connection failed: " + ec.message();
}

// Writes `out` (a Beast request, or the buffers of one written by hand) and
// reads the response header, all within `timeout`.
template <class Out>
net::awaitable<error_code> send_and_read_header(http_conn& c, Out& out, parser_t& p,
                                                std::chrono::milliseconds timeout) {
  c.tcp().expires_after(timeout);
  auto [wec, wn] = co_await c.with([&](auto& s) {
    if constexpr (std::is_same_v<Out, request_t>)
      return http::async_write(s, out, net::as_tuple(net::use_awaitable));
    else
      return net::async_write(s, out, net::as_tuple(net::use_awaitable));
  });
  (void)wn;
  if (wec) co_return wec;
  auto [rec, rn] = co_await c.with([&](auto& s) {
    return http::async_read_header(s, c.buffer, p, net::as_tuple(net::use_awaitable));
  });
  (void)rn;
  c.tcp().expires_never();
  co_return rec;
}

// Reads the next piece of the body into buf. n == 0 and no error happens
// while only framing was read; check p.is_done() for the end.
struct piece {
  std::size_t n = 0;
  error_code ec;
};
inline net::awaitable<piece> read_body_some(http_conn& c, parser_t& p, char* buf,
                                            std::size_t size) {
  p.get().body().data = buf;
  p.get().body().size = size;
  auto [ec, used] = co_await c.with([&](auto& s) {
    return http::async_read_some(s, c.buffer, p, net::as_tuple(net::use_awaitable));
  });
  (void)used;
  if (ec == http::error::need_buffer) ec = {};
  co_return piece{size - p.get().body().size, ec};
}

// The whole (small) body of an answer that is not a stream.
struct body_result {
  std::string body;
  error_code ec;
  bool too_big = false;
};
inline net::awaitable<body_result> read_body(http_conn& c, parser_t& p, std::size_t limit) {
  body_result r;
  if (const auto len = p.content_length(); len && *len <= limit) {
    // The usual JSON answer: read straight into its string.
    r.body.resize(static_cast<std::size_t>(*len));
    std::size_t got = 0;
    while (!p.is_done()) {
      piece pc = co_await read_body_some(c, p, r.body.data() + got, r.body.size() - got);
      got += pc.n;
      if (pc.ec) {
        r.ec = pc.ec;
        break;
      }
    }
    r.body.resize(got);
    co_return r;
  }
  std::vector<char> buf(read_chunk);
  while (!p.is_done()) {
    piece pc = co_await read_body_some(c, p, buf.data(), buf.size());
    if (r.body.size() + pc.n > limit)
      r.too_big = true;
    else
      r.body.append(buf.data(), pc.n);
    if (pc.ec) {
      r.ec = pc.ec;
      break;
    }
  }
  co_return r;
}

// A pooled connection goes back to its pool however the coroutine holding
// it ends (an exception included), or the slot, shared by every session of
// that origin, would be lost for good. Normal paths release it themselves
// (and say whether it may be reused); this returns what is left, unusable.
struct pool_lease {
  http_client& client;
  conn_result& held;
  bool request;
  pool_lease(http_client& c, conn_result& h, bool r) : client(c), held(h), request(r) {}
  ~pool_lease() {
    if (held.conn) client.release(std::move(held.conn), request, false);
  }
  pool_lease(const pool_lease&) = delete;
  pool_lease& operator=(const pool_lease&) = delete;
};

}  // namespace mcpfwd
