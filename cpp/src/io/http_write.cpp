#include "io/http_write.hpp"

namespace mcpfwd {

net::awaitable<error_code> write_header(beast::tcp_stream& s,
                                        http::response_serializer<http::empty_body>& sr) {
  s.expires_after(write_timeout);
  auto [ec, n] = co_await http::async_write_header(s, sr, net::as_tuple(net::use_awaitable));
  (void)n;
  co_return ec;
}

net::awaitable<error_code> write_chunk(beast::tcp_stream& s, std::string_view data) {
  s.expires_after(write_timeout);
  auto [ec, n] = co_await net::async_write(s, http::make_chunk(net::buffer(data)),
                                           net::as_tuple(net::use_awaitable));
  (void)n;
  co_return ec;
}

net::awaitable<error_code> write_last_chunk(beast::tcp_stream& s) {
  s.expires_after(write_timeout);
  auto [ec, n] =
      co_await net::async_write(s, http::make_chunk_last(), net::as_tuple(net::use_awaitable));
  (void)n;
  co_return ec;
}

net::awaitable<error_code> write_bytes(beast::tcp_stream& s, std::string_view data) {
  s.expires_after(write_timeout);
  auto [ec, n] = co_await net::async_write(s, net::buffer(data), net::as_tuple(net::use_awaitable));
  (void)n;
  co_return ec;
}

}  // namespace mcpfwd
