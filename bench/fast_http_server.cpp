// fast_http_server — fast_server's Streamable HTTP twin: the same answers
// (bench/fast_server.cpp's handle()), spoken over HTTP by the server itself.
// It is the benchmark's "direct" for the proxy's figures: what an MCP server
// that serves Streamable HTTP natively costs, with no proxy in between.
//
//   fast_http_server [--threads N] [--port P]   prints http://127.0.0.1:PORT/mcp
//
// POST /mcp with one JSON-RPC message: a request gets its answer as
// application/json (initialize also an Mcp-Session-Id, which later requests
// may carry and which is not checked); a notification or response gets 202.
// DELETE /mcp: 200. Anything else: 405 or 404. Keep-alive HTTP/1.1, Beast,
// one io_context run by N threads (default 1), one coroutine per connection.
#define FAST_SERVER_NO_MAIN
#include "fast_server.cpp"

#include <atomic>
#include <iostream>
#include <memory>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

std::atomic<unsigned long> next_session{1};

net::awaitable<void> serve(tcp::socket sock) {
  sock.set_option(tcp::no_delay(true));
  beast::flat_buffer buf;
  auto srv = std::make_unique<server>();  // its parse arena: 64 KiB, off the frame
  http::response<http::string_body> res;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(sock, buf, req, net::as_tuple(net::use_awaitable));
    (void)n;
    if (ec) break;
    res = {};
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "fast_http_server");
    if (req.target() != "/mcp" && !req.target().starts_with("/mcp?")) {
      res.result(http::status::not_found);
    } else if (req.method() == http::verb::post) {
      srv->out().clear();
      srv->line(req.body());
      std::string& out = srv->out();
      if (out.empty()) {
        res.result(http::status::accepted);
      } else {
        if (out.back() == '\n') out.pop_back();
        res.result(http::status::ok);
        res.set(http::field::content_type, "application/json");
        if (req.body().find("\"initialize\"") != std::string::npos &&
            req.find("Mcp-Session-Id") == req.end())
          res.set("Mcp-Session-Id", "fast-" + std::to_string(next_session.fetch_add(1)));
        res.body() = std::move(out);
      }
    } else if (req.method() == http::verb::delete_) {
      res.result(http::status::ok);
    } else {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "POST, DELETE");
    }
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(sock, res, net::as_tuple(net::use_awaitable));
    (void)wn;
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_send, ignored);
}

net::awaitable<void> accept_loop(tcp::acceptor& acc) {
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(net::as_tuple(net::use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted) break;
      continue;
    }
    net::co_spawn(acc.get_executor(), serve(std::move(sock)), net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = 1;
  unsigned short port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
    } else if (a == "--port" && i + 1 < argc) {
      port = static_cast<unsigned short>(std::atoi(argv[++i]));
    } else {
      std::cerr << "usage: fast_http_server [--threads N] [--port P]\n";
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  net::io_context ioc(static_cast<int>(threads));
  tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  std::cout << "http://127.0.0.1:" << acc.local_endpoint().port() << "/mcp" << std::endl;
  net::signal_set sigs(ioc, SIGINT, SIGTERM);
  sigs.async_wait([&](const beast::error_code&, int) { ioc.stop(); });
  net::co_spawn(ioc, accept_loop(acc), net::detached);
  std::vector<std::thread> more;
  for (unsigned i = 1; i < threads; ++i) more.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : more) t.join();
  return 0;
}
