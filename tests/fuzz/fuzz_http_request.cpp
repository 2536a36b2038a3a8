// The HTTP request path of the listener, in memory: raw bytes, as a client
// connection delivers them, through Beast's request parser with the limits
// http_server.cpp sets (header limit, read buffer, body limit after the
// routing decision, chunked bodies) and through the router (on_head, then
// on_body), against an in-memory session registry. The loop is a model of
// http_server::serve_connection without the socket: requests follow one
// another on the connection (pipelining) until one closes it.
//
// Checked, besides crashes:
//   - every refusal is an error status Beast knows (400-599), a known reason,
//     header values without CR, LF or NUL, and a body that is a JSON-RPC
//     error (valid JSON; the id of the message when there is one); written as
//     http_server::answer writes it, it parses back as the same response;
//   - the routing decision is taken on the head alone: no body byte has been
//     parsed when on_head() runs, and a refused request whose body is not
//     read closes the connection (its body never reaches a parser);
//   - an accepted route honours the head: never while draining; a token when
//     one is configured; Host and Origin allowed (checked against a model of
//     the rules, not the router's code); an announced body within the limit;
//     the kind matches the method and path, and its session exists on that
//     transport; GET /mcp accepts text/event-stream;
//   - a body that is read is within --max-message-bytes (chunked too) and
//     as long as Content-Length says;
//   - on_body accepts only a valid message (or batch within --max-batch),
//     and a message without a session only when it is an initialize request.
//
// Input: byte 0 selects the configuration (bits below), byte 1 and the
// chunk lengths cut the rest into reads as for the stream targets
// (fuzz_util.hpp: stream_input).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "config/server_name.hpp"
#include "fuzz_util.hpp"
#include "protocol/era.hpp"
#include "server/router.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using error_code = boost::system::error_code;
using namespace mcpfwd;

namespace {

// Byte 0 of the input.
enum : unsigned {
  opt_token = 1u << 0,        // --auth-token secret-token
  opt_draining = 1u << 1,     // the proxy is shutting down
  opt_public = 1u << 2,       // bound to a public address, not loopback
  opt_hosts = 1u << 3,        // --allow-host mcp.example.com:8080 --allow-host [::1]
  opt_origins = 1u << 4,      // --allow-origin https://app.example.com
  opt_small_body = 1u << 5,   // --max-message-bytes 256
  opt_small_batch = 1u << 6,  // --max-batch 2
  opt_pad = 1u << 7,          // a 16,200-byte header after the request line
};

constexpr std::uint16_t port = 8080;
constexpr std::string_view token = "secret-token";
constexpr std::string_view pad_header = "X-Pad: ";
constexpr std::size_t pad_size = 16200;
// Known sessions; an accepted initialize adds new_http, DELETE removes.
constexpr std::string_view http_id = "0123456789abcdef0123456789abcdef";
constexpr std::string_view sse_id = "fedcba9876543210fedcba9876543210";
constexpr std::string_view new_http = "00000000000000000000000000000001";

// A connection's bytes, one piece per read (a socket gives what arrived).
class piece_stream {
 public:
  explicit piece_stream(std::vector<std::string_view> pieces) : pieces_(std::move(pieces)) {}

  template <class Buffers>
  std::size_t read_some(const Buffers& b, error_code& ec) {
    ec = {};
    while (next_ < pieces_.size() && pieces_[next_].empty()) ++next_;
    if (next_ == pieces_.size()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    std::string_view& p = pieces_[next_];
    const std::size_t n = boost::asio::buffer_copy(b, boost::asio::buffer(p.data(), p.size()));
    p.remove_prefix(n);
    return n;
  }
  template <class Buffers>
  std::size_t read_some(const Buffers& b) {
    error_code ec;
    const std::size_t n = read_some(b, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::vector<std::string_view> pieces_;
  std::size_t next_ = 0;
};

struct registry {
  std::map<std::string, session_transport, std::less<>> sessions{
      {std::string(http_id), session_transport::streamable_http},
      {std::string(sse_id), session_transport::legacy_sse}};
  std::optional<session_transport> find(std::string_view id) const {
    auto it = sessions.find(id);
    if (it == sessions.end()) return std::nullopt;
    return it->second;
  }
};

// A Content-Length that Beast let through: digits, at most 2^64 - 1.
std::uint64_t number(std::string_view s) {
  FUZZ_CHECK(!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos);
  std::uint64_t v = 0;
  for (char c : s) {
    const auto d = static_cast<std::uint64_t>(c - '0');
    FUZZ_CHECK(v <= (UINT64_MAX - d) / 10);
    v = v * 10 + d;
  }
  return v;
}

bool iequal(std::string_view a, std::string_view b) {
  return beast::iequals(a, b);
}

std::optional<std::string_view> field(const http::request_header<>& h, std::string_view name) {
  auto it = h.find(name);
  if (it == h.end()) return std::nullopt;
  return std::string_view(it->value());
}

// FUZZ_TRACE=1 prints each step (to see what a seed exercises).
void trace(const char* what, std::string_view detail = {}) {
  static const bool on = std::getenv("FUZZ_TRACE") != nullptr;
  if (on) std::fprintf(stderr, "  %s %.*s\n", what, static_cast<int>(detail.size()), detail.data());
}

const char* kind_name(route_kind k) {
  switch (k) {
    case route_kind::refuse: return "refuse";
    case route_kind::mcp_post: return "mcp_post";
    case route_kind::mcp_get: return "mcp_get";
    case route_kind::mcp_delete: return "mcp_delete";
    case route_kind::sse_open: return "sse_open";
    case route_kind::sse_post: return "sse_post";
    case route_kind::modern_post: return "modern_post";
  }
  return "?";
}

// --- a model of the Host and Origin rules (docs/http.md), not the router's code

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "host:port" or "[v6]:port" or a name alone; the port as written.
bool split(std::string_view hp, std::string_view& host, std::string_view& port_text) {
  port_text = {};
  std::size_t end = 0;
  if (hp.starts_with("[")) {
    end = hp.find(']');
    if (end == std::string_view::npos) return false;
    ++end;
  } else {
    end = hp.find(':');
    if (end == std::string_view::npos) end = hp.size();
  }
  host = hp.substr(0, end);
  if (end < hp.size()) {  // an empty port is let through: this model is lenient
    if (hp[end] != ':') return false;
    port_text = hp.substr(end + 1);
    if (!port_text.empty() && !all_digits(port_text)) return false;
  }
  return !host.empty();
}

unsigned long port_value(std::string_view p) {
  unsigned long v = 0;
  for (char c : p) {
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > 0xffff) return 0x10000;
  }
  return v;
}

bool loopback_name(std::string_view host) {
  if (iequal(host, "localhost") || host == "[::1]") return true;
  if (!host.starts_with("127.")) return false;
  // One trailing dot is the same address (the URL standard's IPv4 parser
  // drops it): the router lets it through, and so does this model.
  if (host.ends_with('.')) host.remove_suffix(1);
  int parts = 0;
  while (true) {
    const auto dot = host.find('.');
    const std::string_view octet = host.substr(0, dot);
    if (!all_digits(octet) || port_value(octet) > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
  }
  return parts == 4;
}

bool host_ok(std::string_view value, unsigned opts) {
  std::string_view host, p;
  if (!split(value, host, p)) return false;
  if (opts & opt_hosts) {
    if (iequal(host, "mcp.example.com") && p == "8080") return true;
    if (host == "[::1]") return true;
  }
  if (opts & opt_public) return !(opts & opt_hosts);
  if (!loopback_name(host)) return false;
  return p.empty() ? port == 80 : port_value(p) == port;
}

bool origin_ok(std::string_view origin, unsigned opts) {
  if (opts & opt_origins) return origin == "https://app.example.com";
  std::string_view rest;
  if (origin.starts_with("http://"))
    rest = origin.substr(7);
  else if (origin.starts_with("https://"))
    rest = origin.substr(8);
  else
    return false;
  std::string_view host, p;
  return split(rest, host, p) && (host == "localhost" || host == "127.0.0.1" || host == "[::1]");
}

// --- checks

void check_json_rpc_error(const std::string& body, std::string_view id) {
  json::value v;
  FUZZ_CHECK(fuzz::parse_json(body, v));
  const json::object* o = v.if_object();
  FUZZ_CHECK(o != nullptr && o->size() == 3);
  FUZZ_CHECK(o->contains("jsonrpc") && o->at("jsonrpc") == "2.0");
  FUZZ_CHECK(o->contains("id"));
  FUZZ_CHECK(id.empty() ? o->at("id").is_null()
                        : fuzz::same_id(json::serialize(o->at("id")), std::string(id)));
  const json::object* e = o->contains("error") ? o->at("error").if_object() : nullptr;
  // code and message; -32022 adds data (the supported versions)
  FUZZ_CHECK(e != nullptr && (e->size() == 2 || (e->size() == 3 && e->contains("data"))));
  FUZZ_CHECK(e->contains("code") && e->at("code").is_int64());
  FUZZ_CHECK(e->contains("message") && e->at("message").is_string());
}

bool clean_header_text(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// A refusal is a complete error answer; written as http_server::answer
// writes it, it reads back as itself.
void check_refusal(const http_refusal& f, std::string_view id, unsigned version, bool keep_alive) {
  const unsigned code = static_cast<unsigned>(f.status);
  FUZZ_CHECK(code >= 400 && code <= 599);
  FUZZ_CHECK(http::obsolete_reason(f.status) != "<unknown-status>");
  FUZZ_CHECK(std::string_view(to_string(f.reason)) != "?");
  check_json_rpc_error(f.body, id);
  for (const auto& [k, v] : f.headers) {
    FUZZ_CHECK(!k.empty() && clean_header_text(k) && k.find(':') == std::string::npos);
    FUZZ_CHECK(clean_header_text(v));
  }

  http::response<http::string_body> res{f.status, version ? version : 11};
  res.set(http::field::server, "mcpfwd");
  res.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : f.headers) res.set(k, v);
  res.body() = f.body;
  res.keep_alive(!f.close && keep_alive);
  res.prepare_payload();
  std::ostringstream os;
  os << res;
  const std::string wire = os.str();
  http::response_parser<http::string_body> rp;
  rp.eager(true);
  error_code ec;
  const std::size_t used = rp.put(boost::asio::buffer(wire), ec);
  FUZZ_CHECK(!ec && rp.is_done() && used == wire.size());
  const auto& back = rp.get();
  FUZZ_CHECK(back.result() == f.status && back.body() == f.body);
  FUZZ_CHECK(back.keep_alive() == res.keep_alive());
  if (f.close) FUZZ_CHECK(!back.keep_alive());
  for (const auto& [k, v] : f.headers) FUZZ_CHECK(back[k] == v);
}

// The endpoint of a path: "/servers/NAME/x" is NAME's "/x" when NAME can be
// a server's name (config/server_name.hpp); anything else is itself.
std::string_view endpoint(std::string_view target, std::string* name = nullptr) {
  if (!target.starts_with("/servers/")) return target;
  const std::string_view rest = target.substr(9);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || !valid_server_name(rest.substr(0, slash))) return target;
  if (name) *name = std::string(rest.substr(0, slash));
  return rest.substr(slash);
}

// What an accepted route promises about the head it was decided on.
void check_accepted(const route& r, const http::request_header<>& h, unsigned opts,
                    const registry& reg, std::size_t max_body) {
  FUZZ_CHECK(!(opts & opt_draining));
  if (auto host = field(h, "Host"))
    FUZZ_CHECK(host_ok(*host, opts));
  else
    FUZZ_CHECK(h.version() < 11);
  if (auto origin = field(h, "Origin")) FUZZ_CHECK(origin_ok(*origin, opts));
  if (opts & opt_token) {
    auto a = field(h, "Authorization");
    FUZZ_CHECK(a && a->size() > 7 && iequal(a->substr(0, 7), "bearer "));
    std::string_view t = a->substr(7);
    while (t.starts_with(' ')) t.remove_prefix(1);
    FUZZ_CHECK(t == token);
  }
  if (auto cl = field(h, "Content-Length")) FUZZ_CHECK(number(*cl) <= max_body);
  std::string_view target = h.target(), query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  std::string server;
  target = endpoint(target, &server);
  FUZZ_CHECK(server == r.server);
  const auto sid_header = field(h, "Mcp-Session-Id");
  switch (r.kind) {
    case route_kind::refuse: FUZZ_CHECK(false); break;
    case route_kind::mcp_post:
      FUZZ_CHECK(target == "/mcp" && h.method() == http::verb::post);
      if (r.session_id.empty()) {
        FUZZ_CHECK(!sid_header || sid_header->empty());
      } else {
        FUZZ_CHECK(sid_header && *sid_header == r.session_id);
      }
      break;
    case route_kind::mcp_get:
    case route_kind::mcp_delete:
      FUZZ_CHECK(target == "/mcp");
      FUZZ_CHECK(h.method() ==
                 (r.kind == route_kind::mcp_get ? http::verb::get : http::verb::delete_));
      FUZZ_CHECK(sid_header && *sid_header == r.session_id);
      if (r.kind == route_kind::mcp_get) {
        auto accept = field(h, "Accept");
        FUZZ_CHECK(!accept || accept->empty() ||
                   accept->find("text/event-stream") != std::string_view::npos ||
                   accept->find("*/*") != std::string_view::npos);
      }
      break;
    case route_kind::sse_open:
      FUZZ_CHECK(target == "/sse" && h.method() == http::verb::get);
      FUZZ_CHECK(r.session_id.empty());
      break;
    case route_kind::modern_post: {
      // The stateless era: POST /mcp whose version header is not a handshake one.
      FUZZ_CHECK(target == "/mcp" && h.method() == http::verb::post);
      const auto v = field(h, "MCP-Protocol-Version");
      FUZZ_CHECK(v && !is_handshake_version(*v));
      FUZZ_CHECK(r.session_id.empty());  // no session: Mcp-Session-Id is ignored
      break;
    }
    case route_kind::sse_post: {
      FUZZ_CHECK(target == "/messages" && h.method() == http::verb::post);
      const std::string want = "sessionId=" + r.session_id;
      FUZZ_CHECK(query == want || query.starts_with(want + "&") ||
                 query.find("&" + want + "&") != std::string_view::npos ||
                 query.ends_with("&" + want));
      break;
    }
  }
  if (r.kind == route_kind::mcp_post || r.kind == route_kind::mcp_get ||
      r.kind == route_kind::mcp_delete || r.kind == route_kind::sse_post) {
    if (!r.session_id.empty()) {
      const auto t = reg.find(r.session_id);
      FUZZ_CHECK(t.has_value());
      FUZZ_CHECK(*t == (r.kind == route_kind::sse_post ? session_transport::legacy_sse
                                                       : session_transport::streamable_http));
    } else {
      FUZZ_CHECK(r.kind == route_kind::mcp_post);
    }
  }
}

// What a refusal's reason promises about the head (the order of the checks
// aside: these conditions hold for the request as a whole).
void check_refused(const route& r, const http::request_header<>& h, unsigned opts,
                   const registry& reg) {
  std::string_view target = h.target();
  target = endpoint(target.substr(0, target.find('?')));
  const bool known_path = target == "/mcp" || target == "/sse" || target == "/messages";
  switch (r.refusal.reason) {
    case reject_reason::host:
      if (field(h, "Host"))
        FUZZ_CHECK(r.refusal.status == http::status::misdirected_request);
      else
        FUZZ_CHECK(h.version() >= 11);
      break;
    case reject_reason::origin: FUZZ_CHECK(field(h, "Origin").has_value()); break;
    case reject_reason::token: FUZZ_CHECK(opts & opt_token); break;
    case reject_reason::path: FUZZ_CHECK(!known_path); break;
    case reject_reason::method: FUZZ_CHECK(known_path); break;
    case reject_reason::draining: FUZZ_CHECK(opts & opt_draining); break;
    case reject_reason::version: FUZZ_CHECK(field(h, "MCP-Protocol-Version").has_value()); break;
    case reject_reason::too_large: FUZZ_CHECK(field(h, "Content-Length").has_value()); break;
    case reject_reason::unknown_session: {
      // The id given is not a session of this transport.
      if (target == "/messages") break;  // the id is in the query
      auto sid = field(h, "Mcp-Session-Id");
      FUZZ_CHECK(sid.has_value());
      const auto t = reg.find(*sid);
      FUZZ_CHECK(!t || *t != session_transport::streamable_http);
      break;
    }
    case reject_reason::not_acceptable: FUZZ_CHECK(h.method() == http::verb::get); break;
    case reject_reason::bad_message:  // a malformed Content-Length
      FUZZ_CHECK(field(h, "Content-Length").has_value());
      FUZZ_CHECK(r.refusal.close);
      break;
    case reject_reason::no_session: FUZZ_CHECK(target != "/sse"); break;
    default: FUZZ_CHECK(false);  // decided elsewhere
  }
  if (opts & opt_draining) FUZZ_CHECK(r.kind == route_kind::refuse);
}

// A stateless-era body: refused with the status its JSON-RPC code maps to
// (400, 404 for a removed method, 406 for a listen without SSE), or a single
// valid request or notification.
void check_modern_body(const router& rt, const route& r, const std::string& body, unsigned version,
                       bool keep_alive) {
  message msg;
  const std::optional<http_refusal> f = rt.on_body(r, body, msg);
  trace("on_body (modern):", f ? to_string(f->reason) : "accepted");
  message ref;
  classify_error err;
  const bool valid = classify(body, ref, err);
  if (f) {
    const auto st = f->status;
    FUZZ_CHECK(st == http::status::bad_request || st == http::status::not_found ||
               st == http::status::not_acceptable);
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(f->body, ec);
    FUZZ_CHECK(!ec && v.is_object() && v.as_object().contains("error"));
    const auto code = v.at("error").at("code").to_number<std::int64_t>();
    if (st != http::status::not_acceptable)
      FUZZ_CHECK(http_status_for_error(static_cast<int>(code)) == static_cast<unsigned>(st));
    // The id of a request; null for what is no request (a response, an
    // error, a batch or a notification: its id is not one to answer).
    const std::string id = !valid                                   ? err.id
                           : ref.info.kind == message_kind::request ? ref.info.id
                                                                    : std::string();
    check_refusal(*f, id, version, keep_alive);
    return;
  }
  FUZZ_CHECK(valid && msg.raw == body);
  FUZZ_CHECK(msg.info.kind == message_kind::request || msg.info.kind == message_kind::notification);
}

void check_body(const router& rt, const route& r, const std::string& body, const proxy_config& cfg,
                registry& reg, unsigned version, bool keep_alive) {
  message msg;
  const std::optional<http_refusal> f = rt.on_body(r, body, msg);
  trace("on_body:", f ? to_string(f->reason) : "accepted");
  message ref;
  classify_error err;
  const bool valid = classify(body, ref, err);
  if (f) {
    FUZZ_CHECK(f->status == http::status::bad_request);
    switch (f->reason) {
      case reject_reason::bad_message:
        FUZZ_CHECK(!valid && f->body == make_error_response(err.id, err.code, err.message));
        check_refusal(*f, err.id, version, keep_alive);
        break;
      case reject_reason::batch_too_large:
        FUZZ_CHECK(valid && ref.batch.size() > cfg.max_batch);
        check_refusal(*f, {}, version, keep_alive);
        break;
      case reject_reason::no_session:
        FUZZ_CHECK(valid && r.kind == route_kind::mcp_post && r.session_id.empty());
        FUZZ_CHECK(!(ref.info.kind == message_kind::request && ref.info.method == "initialize"));
        check_refusal(*f, ref.info.id, version, keep_alive);
        break;
      default: FUZZ_CHECK(false);
    }
    return;
  }
  FUZZ_CHECK(valid && msg.raw == body && msg.info.kind == ref.info.kind);
  FUZZ_CHECK(msg.batch.size() <= cfg.max_batch);
  if (r.kind == route_kind::mcp_post && r.session_id.empty()) {
    FUZZ_CHECK(msg.info.kind == message_kind::request && msg.info.method == "initialize");
    // The registry's answers to an initialize, refused or failed, carry its id.
    check_refusal(refuse_session_limit(cfg.max_sessions, msg.info.id), msg.info.id, version,
                  keep_alive);
    check_refusal(refuse_upstream_failed("spawn \"srv\":\n\tENOENT", msg.info.id), msg.info.id,
                  version, keep_alive);
    check_refusal(refuse_by_app(), {}, version, keep_alive);
    reg.sessions.emplace(new_http, session_transport::streamable_http);
  }
}

proxy_config make_config(unsigned opts) {
  proxy_config cfg;
  cfg.listen_host = (opts & opt_public) ? "0.0.0.0" : "127.0.0.1";
  cfg.listen_port = port;
  if (opts & opt_token) cfg.auth_token = token;
  if (opts & opt_hosts) cfg.allowed_hosts = {"mcp.example.com:8080", "[::1]"};
  if (opts & opt_origins) cfg.allowed_origins = {"https://app.example.com"};
  if (opts & opt_small_body) cfg.max_message_bytes = 256;
  if (opts & opt_small_batch) cfg.max_batch = 2;
  return cfg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::stream_input in = fuzz::split_input(data, size);
  const unsigned opts = static_cast<unsigned>(in.limit);
  const proxy_config cfg = make_config(opts);
  const router rt(cfg, port, !(opts & opt_public));
  registry reg;
  const session_lookup lookup = [&reg](std::string_view id) { return reg.find(id); };

  // With opt_pad, a header of pad_size bytes goes after the request line,
  // so that heads near the 16 KiB limit are short inputs.
  std::string padded;
  std::vector<std::string_view> pieces = in.chunks;
  if ((opts & opt_pad) && in.payload.find('\n') != std::string_view::npos) {
    const std::size_t eol = in.payload.find('\n') + 1;
    padded.assign(in.payload.substr(0, eol));
    padded.append(pad_header).append(pad_size, 'a').append("\r\n");
    padded.append(in.payload.substr(eol));
    pieces.clear();  // cut as the input says, the pad in one read
    std::size_t at = 0, done = 0;
    bool pad_in = false;
    for (std::string_view c : in.chunks) {
      std::size_t len = c.size();
      if (!pad_in && done <= eol && eol <= done + len) {
        len += pad_header.size() + pad_size + 2;
        pad_in = true;
      }
      pieces.emplace_back(padded.data() + at, len);
      at += len;
      done += c.size();
    }
  }
  piece_stream stream(std::move(pieces));

  // The model of http_server::serve_connection.
  beast::flat_buffer buf{http_read_buffer_max};
  for (int requests = 0; requests < 64; ++requests) {
    if (buf.size() == 0) {
      error_code ec;
      const std::size_t n = stream.read_some(buf.prepare(http_first_read), ec);
      buf.commit(n);
      if (ec) break;
    }
    http::request_parser<http::string_body> p;
    p.header_limit(http_header_limit);
    p.body_limit(boost::none);
    error_code hec;
    http::read_header(stream, buf, p, hec);
    const unsigned version = p.get().version();
    if (hec) {
      trace("head error:", hec.message());
      if (hec == http::error::header_limit || hec == http::error::buffer_overflow)
        check_refusal(refuse_header_too_large(), {}, version, false);
      else if (hec != http::error::end_of_stream && hec != boost::asio::error::eof)
        check_refusal(refuse_malformed_http(hec.message()), {}, version, false);
      break;
    }
    FUZZ_CHECK(p.is_header_done());
    FUZZ_CHECK(p.get().body().empty());  // decided before any body byte is parsed
    const http::request_header<>& head = p.get().base();
    route r = rt.on_head(head, (opts & opt_draining) != 0, lookup);
    const bool keep_alive = p.get().keep_alive();
    trace(kind_name(r.kind), r.kind == route_kind::refuse ? to_string(r.refusal.reason)
                                                          : std::string_view(r.session_id));
    if (r.kind == route_kind::refuse) {
      check_refused(r, head, opts, reg);
      if (!p.is_done()) r.refusal.close = true;  // its body is never read
      check_refusal(r.refusal, {}, version, keep_alive);
      if (r.refusal.close || !keep_alive) break;
      continue;
    }
    check_accepted(r, head, opts, reg, cfg.max_message_bytes);
    if (!p.is_done()) {
      p.body_limit(cfg.max_message_bytes);
      error_code bec;
      http::read(stream, buf, p, bec);
      if (bec) {
        trace("body error:", bec.message());
        if (bec == http::error::buffer_overflow || bec == http::error::bad_chunk ||
            bec == http::error::bad_chunk_extension)
          check_refusal(refuse_malformed_http(bec.message()), {}, version, false);
        break;  // a 413, or the connection ends
      }
    }
    const std::string& body = p.get().body();
    FUZZ_CHECK(body.size() <= cfg.max_message_bytes);
    if (auto cl = field(head, "Content-Length")) FUZZ_CHECK(body.size() == number(*cl));
    switch (r.kind) {
      case route_kind::mcp_post:
      case route_kind::sse_post: check_body(rt, r, body, cfg, reg, version, keep_alive); break;
      case route_kind::modern_post: check_modern_body(rt, r, body, version, keep_alive); break;
      case route_kind::mcp_delete: reg.sessions.erase(r.session_id); break;
      default: break;  // GET /mcp, GET /sse: the stream takes the connection
    }
    if (r.kind == route_kind::mcp_get || r.kind == route_kind::sse_open || !keep_alive) break;
  }
  return 0;
}
