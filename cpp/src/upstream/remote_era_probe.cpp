#include "upstream/remote_era_probe.hpp"

#include <array>

#include <boost/url/url_view.hpp>

#include "protocol/era.hpp"
#include "upstream/http_exchange.hpp"

namespace mcpfwd {

net::awaitable<std::optional<bool>> probe_remote_era(http_client& client) {
  const remote_options& opts = client.options();
  const origin o = origin_of(boost::urls::url_view(client.url()));
  const std::string target =
      client.url().encoded_path().empty() ? "/" : std::string(client.url().encoded_path());
  const std::string body = modern_probe_request("1");
  std::string head = "POST " + target + " HTTP/1.1\r\nHost: " + o.host_header +
                     "\r\nUser-Agent: mcpfwd\r\nContent-Type: application/json\r\n"
                     "Accept: application/json, text/event-stream\r\n"
                     "MCP-Protocol-Version: " +
                     std::string(latest_modern_version) + "\r\nMcp-Method: server/discover\r\n";
  for (const auto& [k, v] : opts.headers) head += k + ": " + v + "\r\n";
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";

  conn_result cr;
  pool_lease lease{client, cr, true};
  cr = co_await client.acquire(o, true);
  if (!cr.conn) co_return std::nullopt;
  parser_t p;
  p.body_limit(boost::none);
  std::array<net::const_buffer, 2> bufs{net::buffer(head), net::buffer(body)};
  if (co_await send_and_read_header(*cr.conn, bufs, p, opts.timeout)) co_return std::nullopt;
  const bool reusable = p.get().keep_alive();
  const bool stream = is_event_stream(std::string(p.get()[http::field::content_type]));
  body_result b = co_await read_body(*cr.conn, p, opts.max_message_bytes);
  client.release(std::move(cr.conn), true, reusable && !b.ec && !b.too_big && p.is_done());
  if (b.ec && b.body.empty()) co_return std::nullopt;
  if (!stream) co_return probe_says_modern(b.body);
  // An SSE answer: the event carrying the response.
  std::size_t at = 0;
  while ((at = b.body.find("data:", at)) != std::string::npos) {
    at += 5;
    const std::size_t end = b.body.find('\n', at);
    const std::string data = b.body.substr(at, end == std::string::npos ? end : end - at);
    if (probe_says_modern(data)) co_return true;
  }
  co_return false;
}

}  // namespace mcpfwd
