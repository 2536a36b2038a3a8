// fast_server — a tiny, fast stdio MCP server for the benchmark.
//
// Newline-delimited JSON-RPC on stdin/stdout:
//   initialize  -> {"protocolVersion":<the client's>,"capabilities":{"tools":{}},"serverInfo":...}
//   tools/list  -> one tool, "echo"
//   tools/call  -> echo: {"content":[{"type":"text","text":<the "text" argument>}]}
//   ping        -> {}
//   server/discover -> {"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},...}
//               (so that mcpfwd's era probe takes it for a stateless-era server; it
//               serves both eras: it needs no initialize and ignores params._meta)
//   other requests -> -32601; unparsable lines -> -32700 (id null); batches -> -32600.
// Notifications and responses get no answer.
// --notify N: before each tools/call result, send N notifications/message (log
// level info, data: the text argument), so a proxy streams the answer as SSE.
//
// Fast on purpose: 64 KiB reads, every answer of one read gathered into one
// write, and each message parsed into a monotonic buffer that is reset, not
// freed, so steady state does no heap allocation per message.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace json = boost::json;

namespace {

constexpr std::size_t max_line = 64u << 20;  // a longer line is answered -32700 and skipped

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(esc, sizeof esc);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// An id as the client wrote it (the parser validated it; numbers keep their kind).
void append_id(std::string& out, const json::value* id) {
  char b[32];
  if (id == nullptr || id->is_null()) {
    out += "null";
  } else if (id->is_string()) {
    append_json_string(out, id->get_string());
  } else if (id->is_int64()) {
    out.append(b, std::to_chars(b, b + sizeof b, id->get_int64()).ptr);
  } else if (id->is_uint64()) {
    out.append(b, std::to_chars(b, b + sizeof b, id->get_uint64()).ptr);
  } else {
    out += json::serialize(*id);  // a double or (invalid) structured id: rare
  }
}

void begin_result(std::string& out, const json::value* id) {
  out += R"({"jsonrpc":"2.0","id":)";
  append_id(out, id);
  out += R"(,"result":)";
}

void append_error(std::string& out, const json::value* id, int code, std::string_view msg) {
  char b[16];
  out += R"({"jsonrpc":"2.0","id":)";
  append_id(out, id);
  out += R"(,"error":{"code":)";
  out.append(b, std::to_chars(b, b + sizeof b, code).ptr);
  out += R"(,"message":)";
  append_json_string(out, msg);
  out += "}}\n";
}

const json::value* member(const json::value* v, std::string_view key) {
  if (v == nullptr || !v->is_object()) return nullptr;
  return v->get_object().if_contains(key);
}

int notify_before_result = 0;  // --notify N

void handle(const json::value& msg, std::string& out) {
  if (msg.is_array()) {
    append_error(out, nullptr, -32600, "Invalid Request: batches are not supported");
    return;
  }
  const json::value* method = member(&msg, "method");
  const json::value* id = member(&msg, "id");
  if (method == nullptr || id == nullptr) return;  // a response or a notification
  if (!method->is_string()) {
    append_error(out, id, -32600, "Invalid Request: \"method\" must be a string");
    return;
  }
  const std::string_view m = method->get_string();
  const json::value* params = member(&msg, "params");
  if (m == "tools/call") {
    const json::value* name = member(params, "name");
    if (name == nullptr || !name->is_string() || name->get_string() != "echo") {
      append_error(out, id, -32602, "Unknown tool");
      return;
    }
    const json::value* text = member(member(params, "arguments"), "text");
    if (text == nullptr || !text->is_string()) {
      append_error(out, id, -32602, "echo needs a string argument \"text\"");
      return;
    }
    for (int i = 0; i < notify_before_result; ++i) {
      out += R"({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info",)"
             R"("logger":"fast_server","data":)";
      append_json_string(out, text->get_string());
      out += "}}\n";
    }
    begin_result(out, id);
    out += R"({"content":[{"type":"text","text":)";
    append_json_string(out, text->get_string());
    out += "}]}}\n";
  } else if (m == "initialize") {
    const json::value* pv = member(params, "protocolVersion");
    begin_result(out, id);
    out += R"({"protocolVersion":)";
    append_json_string(out, pv && pv->is_string() ? std::string_view(pv->get_string())
                                                  : std::string_view("2025-06-18"));
    out += R"(,"capabilities":{"tools":{}},"serverInfo":{"name":"mcpfwd-bench-fast-server",)"
           R"("version":"1.0.0"}}})"
           "\n";
  } else if (m == "tools/list") {
    begin_result(out, id);
    out += R"({"tools":[{"name":"echo","description":"Echo the text argument",)"
           R"("inputSchema":{"type":"object","properties":{"text":{"type":"string"}},)"
           R"("required":["text"]}}]}})"
           "\n";
  } else if (m == "server/discover") {
    begin_result(out, id);
    out += R"({"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},)"
           R"("_meta":{"io.modelcontextprotocol/serverInfo":{"name":"mcpfwd-bench-fast-server",)"
           R"("version":"1.0.0"}}}})"
           "\n";
  } else if (m == "ping") {
    begin_result(out, id);
    out += "{}}\n";
  } else {
    append_error(out, id, -32601, "Method not found");
  }
}

[[maybe_unused]] bool write_all(const std::string& out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(1, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;  // the client is gone
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

class server {
 public:
  // The parser's own stack comes from the default resource (it keeps its
  // capacity across resets); only the parsed values live in the arena.
  server() : mr_(arena_, sizeof arena_) { out_.reserve(64 * 1024); }

  void line(std::string_view l) {
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.find_first_not_of(" \t") == std::string_view::npos) return;
    json::error_code ec;
    parser_.reset(json::storage_ptr(&mr_));
    parser_.write(l.data(), l.size(), ec);
    if (ec) {
      append_error(out_, nullptr, -32700, "Parse error");
    } else {
      const json::value v = parser_.release();
      handle(v, out_);
    }
    parser_.reset();  // drops every reference into the arena
    mr_.release();
  }

  std::string& out() { return out_; }

 private:
  alignas(std::max_align_t) unsigned char arena_[64 * 1024];
  json::monotonic_resource mr_;
  json::parser parser_;
  std::string out_;
};

}  // namespace

#ifndef FAST_SERVER_NO_MAIN  // fast_http_server.cpp reuses the above
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    int n = -1;
    if (a == "--notify" && i + 1 < argc) {
      const std::string_view v = argv[++i];
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size()) n = -1;
    }
    if (n < 0 || n > 1000) {
      std::fprintf(stderr, "usage: fast_server [--notify N]\n");
      return 2;
    }
    notify_before_result = n;
  }
  ::signal(SIGPIPE, SIG_IGN);
  static server srv;  // the arena is large: keep it off the stack
  std::vector<char> buf(64 * 1024);
  std::size_t have = 0;   // bytes in buf
  bool skipping = false;  // inside a line longer than max_line
  for (;;) {
    if (have == buf.size()) {
      if (buf.size() >= max_line) {  // give up on this line
        srv.line("\x01");            // answered as a parse error
        skipping = true;
        have = 0;
      } else {
        buf.resize(buf.size() * 2);
      }
    }
    const ssize_t n = ::read(0, buf.data() + have, buf.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (n == 0) break;  // EOF: the client is done
    const std::size_t scan_from = have;
    have += static_cast<std::size_t>(n);
    std::size_t start = 0;
    for (std::size_t i = scan_from; i < have; ++i) {
      if (buf[i] != '\n') continue;
      if (!skipping) srv.line(std::string_view(buf.data() + start, i - start));
      skipping = false;
      start = i + 1;
    }
    if (skipping) {  // still inside the oversize line: drop what came
      have = 0;
    } else if (start > 0) {
      std::memmove(buf.data(), buf.data() + start, have - start);
      have -= start;
    }
    if (!srv.out().empty()) {
      if (!write_all(srv.out())) return 0;
      srv.out().clear();
    }
  }
  if (have > 0 && !skipping)
    srv.line(std::string_view(buf.data(), have));  // unterminated last line
  if (!srv.out().empty()) write_all(srv.out());
  return 0;
}
#endif  // FAST_SERVER_NO_MAIN
