#include "io/http_write.hpp"

#include <array>

namespace mcpfwd {

net::awaitable<error_code> write_header(beast::tcp_stream& s,
                                        http::response_serializer<http::empty_body>& sr) {
  s.expires_after(write_timeout);
  auto [ec, n] = co_await http::async_write_header(s, sr, net::as_tuple(net::use_awaitable));
  (void)n;
  co_return ec;
}

namespace {

// `bufs`: what the socket takes now, then the rest asynchronously.
template <class Buffers>
net::awaitable<error_code> write_now_or_later(beast::tcp_stream& s, Buffers bufs) {
  error_code ec;
  const std::size_t total = net::buffer_size(bufs);
  const std::size_t now = s.socket().non_blocking() ? net::write(s.socket(), bufs, ec) : 0;
  if (now == total || (ec && ec != net::error::would_block)) co_return ec;
  beast::buffers_suffix<Buffers> rest(bufs);
  rest.consume(now);
  s.expires_after(write_timeout);
  auto [aec, n] = co_await net::async_write(s, rest, net::as_tuple(net::use_awaitable));
  (void)n;
  co_return aec;
}

}  // namespace

net::awaitable<error_code> write_chunk(beast::tcp_stream& s, std::string_view data) {
  return write_now_or_later(s, http::make_chunk(net::buffer(data)));
}

net::awaitable<error_code> write_last_chunk(beast::tcp_stream& s) {
  return write_now_or_later(s, http::make_chunk_last());
}

net::awaitable<error_code> write_bytes(beast::tcp_stream& s, std::string_view data) {
  return write_now_or_later(s, net::const_buffer(data.data(), data.size()));
}

net::awaitable<error_code> write_head_and_body(beast::tcp_stream& s, std::string_view head,
                                               std::string_view body) {
  return write_now_or_later(
      s, std::array<net::const_buffer, 2>{net::const_buffer(head.data(), head.size()),
                                          net::const_buffer(body.data(), body.size())});
}

}  // namespace mcpfwd
