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

// Each write is first tried at once when the socket is in non-blocking mode
// (the listeners set it; a blocking socket goes straight to the asynchronous
// write): what the socket takes is written now, and only the rest waits for
// it, asynchronously and under the deadline. A reply that fits the
// socket's buffer (nearly every one) thus costs one system call and no
// handler hop; an asynchronous write that completes at once is still
// dispatched through the io_context's queue.

// A whole HTTP message (a complete response).
template <class Message>
net::awaitable<error_code> write_message(beast::tcp_stream& s, Message& m) {
  http::serializer<Message::is_request::value, typename Message::body_type,
                   typename Message::fields_type>
      sr{m};
  error_code ec;
  if (s.socket().non_blocking()) http::write(s.socket(), sr, ec);
  if (sr.is_done() || (ec && ec != net::error::would_block)) co_return ec;
  s.expires_after(write_timeout);
  auto [aec, n] = co_await http::async_write(s, sr, net::as_tuple(net::use_awaitable));
  (void)n;
  co_return aec;
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
// A hand-written head and its body, gathered in one write.
net::awaitable<error_code> write_head_and_body(beast::tcp_stream& s, std::string_view head,
                                               std::string_view body);

}  // namespace mcpfwd
