// Writes to an HTTP client, each with a deadline: a client that stops reading
// cannot hold a coroutine (and what it owns) for ever. Errors come back as a
// value; the caller decides what a failed write ends.
#pragma once
#include <chrono>
#include <string_view>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "base/net.hpp"

namespace mcpfwd {

namespace beast = boost::beast;
namespace http = beast::http;

inline constexpr std::chrono::seconds write_timeout{30};

// A whole HTTP message (a complete response, or a serializer's header).
template <class Message>
net::awaitable<error_code> write_message(beast::tcp_stream& s, Message& m) {
  s.expires_after(write_timeout);
  auto [ec, n] = co_await http::async_write(s, m, net::as_tuple(net::use_awaitable));
  (void)n;
  co_return ec;
}

// The header of a response whose body follows in chunks.
net::awaitable<error_code> write_header(beast::tcp_stream& s,
                                        http::response_serializer<http::empty_body>& sr);
// One chunk of a chunked body (an SSE event, a comment).
net::awaitable<error_code> write_chunk(beast::tcp_stream& s, std::string_view data);
// The end of a chunked body.
net::awaitable<error_code> write_last_chunk(beast::tcp_stream& s);
// Raw bytes (a hand-written answer).
net::awaitable<error_code> write_bytes(beast::tcp_stream& s, std::string_view data);

}  // namespace mcpfwd
