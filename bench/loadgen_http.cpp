// loadgen's Streamable HTTP client: one keep-alive HTTP/1.1 connection per
// session (reopened only if the server closes it), Mcp-Session-Id kept from
// the initialize answer, JSON or SSE answers. For --abandon-sessions it can
// also open the session's GET stream and leave without a DELETE. With --era
// modern: no session id, each POST carries the stateless era's routing headers
// (and --client-header, NAME: <client number>).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "loadgen.hpp"

namespace loadgen {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr const char* accept_both = "application/json, text/event-stream";
constexpr const char* protocol_version = "2025-06-18";
constexpr const char* modern_version = "2026-07-28";

class http_client final : public http_session_client {
 public:
  http_client(net::any_io_executor ex, const options& o, int index)
      : o_(o), stream_(ex), get_(ex), client_value_(std::to_string(index)) {
    net::ip::address addr = net::ip::make_address(o.host == "localhost" ? "127.0.0.1" : o.host);
    endpoint_ = tcp::endpoint(addr, static_cast<unsigned short>(std::stoi(o.port)));
    host_ = o.host + ":" + o.port;
  }

  net::awaitable<bool> start(std::string& err) override { co_return co_await connect(err); }

  net::awaitable<bool> request(const std::string& body, std::string& answer,
                               std::string& err) override {
    http::response<http::string_body> res;
    if (!co_await exchange(http::verb::post, body, res, err)) co_return false;
    if (res.result() != http::status::ok) {
      err = "HTTP " + std::to_string(res.result_int()) + ": " + res.body();
      co_return false;
    }
    if (sid_.empty()) {
      if (auto it = res.find("Mcp-Session-Id"); it != res.end()) sid_ = std::string(it->value());
    }
    auto ct = res.find(http::field::content_type);
    if (ct != res.end() && ct->value().starts_with("text/event-stream")) {
      answer = last_sse_data(res.body());
    } else {
      answer = std::move(res.body());
    }
    co_return true;
  }

  net::awaitable<bool> notify(const std::string& body, std::string& err) override {
    http::response<http::string_body> res;
    if (!co_await exchange(http::verb::post, body, res, err)) co_return false;
    if (res.result() != http::status::accepted) {
      err = "notification: expected 202, got HTTP " + std::to_string(res.result_int());
      co_return false;
    }
    co_return true;
  }

  net::awaitable<void> finish() override {
    if (!sid_.empty()) {
      http::response<http::string_body> res;
      std::string err;
      co_await exchange(http::verb::delete_, {}, res, err);
    }
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    get_.close();
  }

  net::awaitable<bool> open_stream(std::string& err) override {
    if (sid_.empty()) {
      err = "GET stream: no session id";
      co_return false;
    }
    auto [cec] = co_await get_.async_connect(endpoint_, net::as_tuple(net::use_awaitable));
    if (cec) {
      err = "GET stream: connect " + host_ + ": " + cec.message();
      co_return false;
    }
    http::request<http::empty_body> req{http::verb::get, o_.target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::accept, "text/event-stream");
    req.set("Mcp-Session-Id", sid_);
    req.set("MCP-Protocol-Version", protocol_version);
    auto [wec, wn] = co_await http::async_write(get_, req, net::as_tuple(net::use_awaitable));
    (void)wn;
    if (wec) {
      err = "GET stream: write: " + wec.message();
      co_return false;
    }
    // Only the head: the body is the open-ended event stream.
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> parser;
    auto [rec, rn] =
        co_await http::async_read_header(get_, buf, parser, net::as_tuple(net::use_awaitable));
    (void)rn;
    if (rec) {
      err = "GET stream: read: " + rec.message();
      co_return false;
    }
    const auto& res = parser.get();
    const auto ct = res.find(http::field::content_type);
    if (res.result() != http::status::ok || ct == res.end() ||
        !ct->value().starts_with("text/event-stream")) {
      err = "GET stream: HTTP " + std::to_string(res.result_int()) + ", not an event stream";
      co_return false;
    }
    co_return true;
  }

  void abandon() noexcept override {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    get_.socket().close(ignored);
    connected_ = false;
  }

 private:
  net::awaitable<bool> connect(std::string& err) {
    auto [ec] = co_await stream_.async_connect(endpoint_, net::as_tuple(net::use_awaitable));
    if (ec) {
      err = "connect " + host_ + ": " + ec.message();
      co_return false;
    }
    stream_.socket().set_option(tcp::no_delay(true), ec);
    connected_ = true;
    co_return true;
  }

  net::awaitable<bool> exchange(http::verb verb, const std::string& body,
                                http::response<http::string_body>& res, std::string& err) {
    if (!connected_ && !co_await connect(err)) co_return false;
    http::request<http::string_body> req{verb, o_.target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::accept, accept_both);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    if (!sid_.empty()) {
      req.set("Mcp-Session-Id", sid_);
      req.set("MCP-Protocol-Version", protocol_version);
    }
    if (o_.modern && verb == http::verb::post) {  // every modern request is tools/call echo
      req.set("MCP-Protocol-Version", modern_version);
      req.set("Mcp-Method", "tools/call");
      req.set("Mcp-Name", "echo");
      if (!o_.client_header.empty()) req.set(o_.client_header, client_value_);
    }
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream_, req, net::as_tuple(net::use_awaitable));
    (void)wn;
    if (wec) {
      err = "write: " + wec.message();
      connected_ = false;
      co_return false;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    auto [rec, rn] =
        co_await http::async_read(stream_, buf_, parser, net::as_tuple(net::use_awaitable));
    (void)rn;
    if (rec) {
      err = "read: " + rec.message();
      connected_ = false;
      co_return false;
    }
    res = parser.release();
    if (!res.keep_alive()) {  // the server closes: reconnect for the next request
      beast::error_code ignored;
      stream_.socket().close(ignored);
      buf_.clear();
      connected_ = false;
    }
    co_return true;
  }

  const options& o_;
  beast::tcp_stream stream_;
  beast::tcp_stream get_;  // the GET stream (open_stream)
  beast::flat_buffer buf_;
  tcp::endpoint endpoint_;
  std::string host_, sid_;
  const std::string client_value_;  // --client-header's value: this client's number
  bool connected_ = false;
};

}  // namespace

std::unique_ptr<http_session_client> make_http_client(net::any_io_executor ex, const options& o,
                                                      int index) {
  return std::make_unique<http_client>(std::move(ex), o, index);
}

}  // namespace loadgen
