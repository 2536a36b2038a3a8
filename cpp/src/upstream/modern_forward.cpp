#include "upstream/modern_forward.hpp"

#include <array>

#include <boost/beast/core/string.hpp>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>

#include "io/http_write.hpp"
#include "protocol/message.hpp"
#include "upstream/http_exchange.hpp"

namespace mcpfwd {

namespace {

// The request headers that travel upstream: the era's routing headers.
bool forwarded_header(std::string_view name) {
  return beast::iequals(name, "MCP-Protocol-Version") || beast::iequals(name, "Mcp-Method") ||
         beast::iequals(name, "Mcp-Name") ||
         (name.size() > 10 && beast::iequals(name.substr(0, 10), "Mcp-Param-"));
}

std::string request_id_of(std::string_view body) {
  message m;
  classify_error err;
  if (!classify(std::string(body), m, err)) return err.id;
  return m.info.id;
}

// An error of mcpfwd's own (the upstream could not be reached, or broke):
// a JSON-RPC error for the request, 502.
net::awaitable<bool> fail(beast::tcp_stream& down, const http::request<http::string_body>& req,
                          std::string_view id, const std::string& upstream_key, const logger& log,
                          std::string why) {
  log.warn("stateless request to " + upstream_key + ": " + why);
  http::response<http::string_body> res{http::status::bad_gateway, req.version()};
  res.set(http::field::server, "mcpfwd");
  res.set(http::field::content_type, "application/json");
  res.body() = make_error_response(id, rpc_error::upstream_error, why);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  const error_code ec = co_await write_message(down, res);
  co_return !ec && req.keep_alive();
}

}  // namespace

net::awaitable<bool> forward_modern(http_client& client, beast::tcp_stream& down,
                                    const http::request<http::string_body>& req, std::string body,
                                    const logger& log) {
  const remote_options& opts = client.options();
  const origin o = origin_of(boost::urls::url_view(client.url()));
  const std::string target =
      client.url().encoded_path().empty() ? "/" : std::string(client.url().encoded_path());
  const bool keep_down = req.keep_alive();
  const std::string id = request_id_of(body);

  std::string head;
  head.reserve(512);
  head += "POST " + target + " HTTP/1.1\r\nHost: " + o.host_header +
          "\r\nUser-Agent: mcpfwd\r\nContent-Type: application/json\r\n";
  if (auto a = req.find(http::field::accept); a != req.end())
    head += "Accept: " + std::string(a->value()) + "\r\n";
  else
    head += "Accept: application/json, text/event-stream\r\n";
  for (const auto& f : req)
    if (forwarded_header(f.name_string()))
      head += std::string(f.name_string()) + ": " + std::string(f.value()) + "\r\n";
  bool has_auth = false;
  for (const auto& [k, v] : opts.headers) {
    head += k + ": " + v + "\r\n";
    if (beast::iequals(k, "authorization")) has_auth = true;
  }
  if (!has_auth && opts.forward_authorization)
    if (auto a = req.find(http::field::authorization); a != req.end())
      head += "Authorization: " + std::string(a->value()) + "\r\n";
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";

  conn_result cr;
  pool_lease lease{client, cr, true};
  cr = co_await client.acquire(o, true);
  if (!cr.conn) co_return co_await fail(down, req, id, o.key(), log, cr.error);
  parser_t p;
  p.body_limit(boost::none);
  std::array<net::const_buffer, 2> bufs{net::buffer(head), net::buffer(body)};
  if (const error_code ec = co_await send_and_read_header(*cr.conn, bufs, p, opts.timeout))
    co_return co_await fail(down, req, id, o.key(), log, io_error_text(ec, opts));

  const auto& up = p.get();
  const std::string ctype(up[http::field::content_type]);
  bool reusable = up.keep_alive();
  if (!is_event_stream(ctype)) {
    // A JSON answer (or an error of the upstream's): status and body as they are.
    body_result b = co_await read_body(*cr.conn, p, opts.max_message_bytes);
    if (b.ec || b.too_big) reusable = false;
    client.release(std::move(cr.conn), true, reusable && p.is_done());
    if (b.too_big)
      co_return co_await fail(down, req, id, o.key(), log,
                              "the server's answer is over the " +
                                  std::to_string(opts.max_message_bytes) +
                                  "-byte message limit (--max-message-bytes)");
    if (b.ec) co_return co_await fail(down, req, id, o.key(), log, io_error_text(b.ec, opts));
    http::response<http::string_body> res{up.result(), req.version()};
    res.set(http::field::server, "mcpfwd");
    if (!ctype.empty()) res.set(http::field::content_type, ctype);
    if (auto a = up.find(http::field::allow); a != up.end())
      res.set(http::field::allow, a->value());
    res.body() = std::move(b.body);
    res.keep_alive(keep_down);
    res.prepare_payload();
    const error_code ec = co_await write_message(down, res);
    co_return !ec && keep_down;
  }

  // An SSE answer: relayed piece by piece as it comes (no buffering: the
  // client sees each event when the server sends it).
  http::response<http::empty_body> res{up.result(), req.version()};
  res.set(http::field::server, "mcpfwd");
  res.set(http::field::content_type, ctype);
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Accel-Buffering", "no");
  res.keep_alive(keep_down);
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  bool down_ok = !(co_await write_header(down, sr));
  std::vector<char> buf(read_chunk);
  bool up_ok = true;
  while (down_ok && !p.is_done()) {
    cr.conn->tcp().expires_after(opts.timeout);
    piece pc = co_await read_body_some(*cr.conn, p, buf.data(), buf.size());
    cr.conn->tcp().expires_never();
    if (pc.n > 0) down_ok = !(co_await write_chunk(down, std::string_view(buf.data(), pc.n)));
    if (pc.ec) {
      up_ok = false;
      log.warn("stateless request to " + o.key() + ": the answer stream broke (" + pc.ec.message() +
               ")");
      break;
    }
  }
  // A client gone mid-stream: closing the upstream connection cancels the
  // request there. Either way the connection is only reused after a clean end.
  client.release(std::move(cr.conn), true, reusable && up_ok && down_ok && p.is_done());
  if (!down_ok) co_return false;
  if (!up_ok) co_return false;  // the stream ends without its last chunk: the client sees the break
  down_ok = !(co_await write_last_chunk(down));
  co_return down_ok&& keep_down;
}

}  // namespace mcpfwd
