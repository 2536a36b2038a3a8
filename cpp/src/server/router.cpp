#include "server/router.hpp"

#include <algorithm>
#include <charconv>

#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>

#include "config/server_name.hpp"
#include "protocol/era.hpp"

namespace mcpfwd {

namespace {

constexpr int session_not_found = -32001;  // the SDKs' code for an unknown session

// The request headers on_head reads, gathered in one pass over the head (a
// lookup by name is a search of Beast's field set each time): the first
// occurrence of each, and how often the routing headers of the stateless era
// occur (a duplicate is refused).
struct head_fields {
  std::optional<std::string_view> host, origin, authorization, content_length, accept;
  std::optional<std::string_view> version, session_id, mcp_method, mcp_name;
  int n_version = 0, n_method = 0, n_name = 0;

  explicit head_fields(const http::request_header<>& head) {
    auto first = [](std::optional<std::string_view>& at, std::string_view v) {
      if (!at) at = v;
    };
    for (const auto& f : head) {
      const std::string_view v = f.value();
      switch (f.name()) {
        case http::field::host: first(host, v); break;
        case http::field::origin: first(origin, v); break;
        case http::field::authorization: first(authorization, v); break;
        case http::field::content_length: first(content_length, v); break;
        case http::field::accept: first(accept, v); break;
        case http::field::unknown: {
          const std::string_view n = f.name_string();
          if (beast::iequals(n, "MCP-Protocol-Version")) {
            first(version, v);
            ++n_version;
          } else if (beast::iequals(n, "Mcp-Session-Id")) {
            first(session_id, v);
          } else if (beast::iequals(n, "Mcp-Method")) {
            first(mcp_method, v);
            ++n_method;
          } else if (beast::iequals(n, "Mcp-Name")) {
            first(mcp_name, v);
            ++n_name;
          }
          break;
        }
        default: break;
      }
    }
  }
  static std::optional<std::string> copy(const std::optional<std::string_view>& v) {
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
};

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

bool accepts(std::string_view accept, std::string_view type) {
  return accept.empty() || accept.find(type) != std::string_view::npos ||
         accept.find("*/*") != std::string_view::npos;
}

// The value of one query parameter (no percent-decoding: session ids are hex).
std::string_view query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    if (kv.size() > name.size() && kv.substr(0, name.size()) == name && kv[name.size()] == '=')
      return kv.substr(name.size() + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

// "host[:port]" or "[v6][:port]" split; false when malformed.
bool split_host_port(std::string_view hp, std::string_view& host, std::string_view& port) {
  port = {};
  if (hp.starts_with("[")) {
    const auto close = hp.find(']');
    if (close == std::string_view::npos) return false;
    host = hp.substr(0, close + 1);
    hp.remove_prefix(close + 1);
    if (hp.empty()) return true;
    if (hp[0] != ':') return false;
    port = hp.substr(1);
  } else {
    const auto colon = hp.find(':');
    host = hp.substr(0, colon);
    if (colon != std::string_view::npos) port = hp.substr(colon + 1);
    if (colon != std::string_view::npos && port.empty()) return false;
  }
  if (host.empty()) return false;
  return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_loopback_name(std::string_view host) {
  if (beast::iequals(host, "localhost") || host == "[::1]") return true;
  // 127.0.0.0/8 in dotted decimal
  if (!host.starts_with("127.")) return false;
  int parts = 0;
  for (std::string_view rest = host; !rest.empty(); ++parts) {
    const auto dot = rest.find('.');
    const std::string_view p = rest.substr(0, dot);
    unsigned v = 256;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || v > 255) return false;
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  }
  return parts == 4;
}

std::string rpc_error_body(int code, std::string_view text, std::string_view id = {}) {
  return make_error_response(id, code, text);
}

http_refusal refusal(http::status st, reject_reason why, std::string text,
                     int code = rpc_error::invalid_request, std::string_view id = {}) {
  http_refusal r;
  r.status = st;
  r.reason = why;
  r.body = rpc_error_body(code, text, id);
  return r;
}

}  // namespace

const char* to_string(reject_reason r) noexcept {
  switch (r) {
    case reject_reason::host: return "host";
    case reject_reason::origin: return "origin";
    case reject_reason::token: return "token";
    case reject_reason::path: return "path";
    case reject_reason::method: return "method";
    case reject_reason::draining: return "draining";
    case reject_reason::version: return "version";
    case reject_reason::too_large: return "size";
    case reject_reason::no_session: return "no_session_id";
    case reject_reason::unknown_session: return "unknown_session";
    case reject_reason::not_acceptable: return "not_acceptable";
    case reject_reason::bad_message: return "bad_message";
    case reject_reason::batch_too_large: return "batch_size";
    case reject_reason::session_limit: return "limit";
    case reject_reason::upstream_failed: return "upstream";
    case reject_reason::refused_by_app: return "refused";
  }
  return "?";
}

http_refusal refuse_session_limit(std::size_t max_sessions, std::string_view id_json) {
  auto r =
      refusal(http::status::service_unavailable, reject_reason::session_limit,
              "Too many sessions: the proxy is at its limit of " + std::to_string(max_sessions),
              rpc_error::upstream_error, id_json);
  r.headers.emplace_back("Retry-After", "5");
  return r;
}

http_refusal refuse_upstream_failed(std::string_view what, std::string_view id_json) {
  return refusal(http::status::bad_gateway, reject_reason::upstream_failed,
                 "Cannot start the upstream: " + std::string(what), rpc_error::upstream_error,
                 id_json);
}

http_refusal refuse_by_app() {
  return refusal(http::status::forbidden, reject_reason::refused_by_app,
                 "Forbidden: the session was refused by the embedding application",
                 rpc_error::upstream_error);
}

http_refusal refuse_unknown_session() {
  return refusal(http::status::not_found, reject_reason::unknown_session, "Session not found",
                 session_not_found);
}

http_refusal refuse_unknown_server(std::string_view name) {
  return refusal(http::status::not_found, reject_reason::path,
                 name.empty() ? std::string("Not found: no default server here; use "
                                            "/servers/NAME/mcp (docs/configuration.md)")
                              : "Not found: no server named '" + std::string(name) + "'");
}

http_refusal refuse_malformed_http(std::string_view what) {
  auto r = refusal(http::status::bad_request, reject_reason::bad_message,
                   "Bad Request: malformed HTTP (" + std::string(what) + ")");
  r.close = true;
  return r;
}

http_refusal refuse_header_too_large() {
  auto r = refusal(http::status::request_header_fields_too_large, reject_reason::too_large,
                   "Request header fields too large");
  r.close = true;
  return r;
}

router::router(const proxy_config& cfg, std::uint16_t bound_port, bool loopback_bind)
    : cfg_(cfg),
      port_(bound_port),
      loopback_(loopback_bind),
      own_host_(loopback_bind ? "127.0.0.1:" + std::to_string(bound_port) : std::string()) {}

bool router::host_allowed(std::string_view value) const {
  if (!own_host_.empty() && value == own_host_) return true;  // what the rest would conclude
  std::string_view host, port;
  if (!split_host_port(value, host, port)) return false;
  for (const auto& a : cfg_.allowed_hosts) {
    if (a == "*") return true;
    std::string_view ah, ap;
    if (!split_host_port(a, ah, ap)) continue;
    if (beast::iequals(ah, host) && (ap.empty() || ap == port)) return true;
  }
  if (!loopback_) return cfg_.allowed_hosts.empty();  // a public bind: checked only if asked
  // A loopback bind: loopback names, with the listener's own port.
  if (!is_loopback_name(host)) return false;
  if (port.empty()) return port_ == 80;
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  return ec == std::errc() && end == port.data() + port.size() && p == port_;
}

bool router::origin_allowed(std::string_view origin) const {
  if (!cfg_.allowed_origins.empty()) {
    for (const auto& o : cfg_.allowed_origins)
      if (o == "*" || o == origin) return true;
    return false;
  }
  std::string_view rest;
  if (origin.starts_with("http://"))
    rest = origin.substr(7);
  else if (origin.starts_with("https://"))
    rest = origin.substr(8);
  else
    return false;
  std::string_view host, port;
  if (!split_host_port(rest, host, port)) return false;
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

route router::on_head(const http::request_header<>& head, bool draining,
                      const session_lookup& lookup) const {
  route r;
  auto refuse = [&](http_refusal f) {
    r.kind = route_kind::refuse;
    r.refusal = std::move(f);
    return r;
  };
  const head_fields hf(head);
  // 1. Host, before anything else (DNS rebinding: a browser omits Origin on
  // a same-origin GET, but always sends the Host it resolved).
  if (hf.host) {
    if (!host_allowed(*hf.host))
      return refuse(refusal(http::status::misdirected_request, reject_reason::host,
                            "Misdirected Request: Host '" + std::string(*hf.host) +
                                "' is not served here (see --allow-host)"));
  } else if (head.version() >= 11) {
    return refuse(refusal(http::status::bad_request, reject_reason::host,
                          "Bad Request: HTTP/1.1 requires a Host header"));
  }
  // 2. Origin, when present.
  if (hf.origin && !origin_allowed(*hf.origin))
    return refuse(refusal(http::status::forbidden, reject_reason::origin, "Origin not allowed"));
  // 3. The bearer token (RFC 7235: the scheme is case-insensitive).
  if (!cfg_.auth_token.empty()) {
    const std::string_view v = hf.authorization.value_or(std::string_view());
    const bool bearer = v.size() > 7 && beast::iequals(v.substr(0, 7), "bearer ");
    std::string_view token = bearer ? v.substr(7) : std::string_view();
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    if (!bearer || !constant_time_equal(token, cfg_.auth_token)) {
      auto f = refusal(http::status::unauthorized, reject_reason::token, "Unauthorized");
      f.headers.emplace_back("WWW-Authenticate", "Bearer");
      return refuse(std::move(f));
    }
  }
  // 4. Path and method.
  std::string_view target = head.target(), query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  const auto method = head.method();
  auto not_allowed = [&](const char* allow, std::string text) {
    auto f = refusal(http::status::method_not_allowed, reject_reason::method, std::move(text));
    f.headers.emplace_back("Allow", allow);
    return refuse(std::move(f));
  };
  // A named server (config file): /servers/NAME/mcp, /servers/NAME/sse,
  // /servers/NAME/messages; the listener checks that NAME is configured.
  if (target.starts_with("/servers/")) {
    const std::string_view rest = target.substr(9);
    const auto slash = rest.find('/');
    if (slash != std::string_view::npos && valid_server_name(rest.substr(0, slash))) {
      r.server = std::string(rest.substr(0, slash));
      target = rest.substr(slash);
    }
  }
  const bool is_mcp = target == "/mcp", is_sse = target == "/sse", is_msg = target == "/messages";
  if (!is_mcp && !is_sse && !is_msg)
    return refuse(refusal(http::status::not_found, reject_reason::path,
                          "Not found: use /mcp (or /sse for HTTP+SSE)"));
  // The era, from MCP-Protocol-Version (SH): a version that is not a
  // handshake one is the stateless era, which has POST only.
  const bool modern =
      is_mcp && header_says_modern(hf.version.value_or(std::string_view()), hf.version.has_value());
  if (modern && method != http::verb::post)
    return not_allowed("POST", "Method not allowed: the stateless era (MCP-Protocol-Version " +
                                   std::string(*hf.version) + ") has POST only");
  if (is_mcp && method != http::verb::post && method != http::verb::get &&
      method != http::verb::delete_)
    return not_allowed("GET, POST, DELETE", "Method not allowed");
  if (is_sse && method != http::verb::get)
    return not_allowed("GET", "Method not allowed: GET /sse");
  if (is_msg && method != http::verb::post)
    return not_allowed("POST", "Method not allowed: POST /messages");
  // 5. Draining: new work is refused, work in flight finishes.
  if (draining) {
    auto f = refusal(http::status::service_unavailable, reject_reason::draining,
                     "Service Unavailable: the proxy is shutting down", rpc_error::upstream_error);
    f.headers.emplace_back("Retry-After", "5");
    f.close = true;
    return refuse(std::move(f));
  }
  // 6. The protocol version (Streamable HTTP).
  if ((is_sse || is_msg) && hf.version && !is_handshake_version(*hf.version))
    return refuse(
        refusal(http::status::bad_request, reject_reason::version,
                "Unsupported MCP-Protocol-Version on HTTP+SSE: " + std::string(*hf.version)));
  // 7. Size, from the head: a body announced over the limit is never read.
  if (hf.content_length) {
    std::uint64_t n = 0;
    const std::string_view s = *hf.content_length;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size())
      return refuse(refuse_malformed_http("bad Content-Length"));
    if (n > cfg_.max_message_bytes) {
      auto f = refusal(http::status::payload_too_large, reject_reason::too_large,
                       "Request body exceeds the maximum size of " +
                           std::to_string(cfg_.max_message_bytes) + " bytes");
      f.close = true;
      return refuse(std::move(f));
    }
  }
  // 8. The session, by id, on its own transport.
  const std::string_view accept_v = hf.accept.value_or(std::string_view());
  r.accept_sse = accepts(accept_v, "text/event-stream");
  if (is_sse) {
    r.kind = route_kind::sse_open;
    return r;
  }
  auto bound = [&](std::string_view id, session_transport t) {
    auto found = lookup ? lookup(id) : std::nullopt;
    return found && *found == t;
  };
  if (is_msg) {
    const std::string_view sid = query_param(query, "sessionId");
    if (sid.empty())
      return refuse(refusal(http::status::bad_request, reject_reason::no_session,
                            "Bad Request: the sessionId query parameter is required"));
    if (!bound(sid, session_transport::legacy_sse)) return refuse(refuse_unknown_session());
    r.kind = route_kind::sse_post;
    r.session_id = std::string(sid);
    r.accept_sse = false;  // answers go on the session's stream
    return r;
  }
  if (modern) {  // no session: Mcp-Session-Id is ignored, as a modern server does
    r.kind = route_kind::modern_post;
    r.mcp_version = head_fields::copy(hf.version);
    r.mcp_method = head_fields::copy(hf.mcp_method);
    r.mcp_name = head_fields::copy(hf.mcp_name);
    if (hf.n_version > 1) r.duplicated_header = "MCP-Protocol-Version";
    if (hf.n_method > 1) r.duplicated_header = "Mcp-Method";
    if (hf.n_name > 1) r.duplicated_header = "Mcp-Name";
    return r;
  }
  std::string_view sid;
  if (hf.session_id) sid = *hf.session_id;
  if (method == http::verb::post) {
    r.kind = route_kind::mcp_post;
    if (!sid.empty()) {
      if (!bound(sid, session_transport::streamable_http)) return refuse(refuse_unknown_session());
      r.session_id = std::string(sid);
    }
    return r;  // no id: on_body() requires an initialize
  }
  if (sid.empty())
    return refuse(refusal(http::status::bad_request, reject_reason::no_session,
                          "Bad Request: Mcp-Session-Id header is required"));
  if (!bound(sid, session_transport::streamable_http)) return refuse(refuse_unknown_session());
  r.session_id = std::string(sid);
  if (method == http::verb::get) {
    if (!accepts(accept_v, "text/event-stream"))
      return refuse(refusal(http::status::not_acceptable, reject_reason::not_acceptable,
                            "Not Acceptable: GET needs Accept: text/event-stream"));
    r.kind = route_kind::mcp_get;
    return r;
  }
  r.kind = route_kind::mcp_delete;
  return r;
}

std::optional<http_refusal> router::on_body(const route& r, std::string body, message& msg) const {
  if (r.kind == route_kind::modern_post) return on_modern_body(r, std::move(body), msg);
  classify_error err;
  if (!classify(std::move(body), msg, err))
    return refusal(http::status::bad_request, reject_reason::bad_message, err.message, err.code,
                   err.id);
  if (msg.info.kind == message_kind::batch && msg.batch.size() > cfg_.max_batch)
    return refusal(http::status::bad_request, reject_reason::batch_too_large,
                   batch_too_large_text(msg.batch.size(), cfg_.max_batch));
  if (r.kind == route_kind::mcp_post && r.session_id.empty() &&
      !(msg.info.kind == message_kind::request && msg.info.method == "initialize"))
    return refusal(http::status::bad_request, reject_reason::no_session,
                   "Bad Request: Mcp-Session-Id header is required", rpc_error::invalid_request,
                   msg.info.id);
  return std::nullopt;
}

std::optional<http_refusal> router::on_modern_body(const route& r, std::string body,
                                                   message& msg) const {
  auto refuse = [](const ladder_rejection& rej, std::string_view id) {
    http_refusal f;
    f.status = static_cast<http::status>(rej.status);
    f.reason = rej.code == rpc_error::unsupported_version ? reject_reason::version
                                                          : reject_reason::bad_message;
    f.body = make_rejection_response(id, rej);
    return f;
  };
  classify_error err;
  if (!classify(std::move(body), msg, err))
    return refusal(http::status::bad_request, reject_reason::bad_message, err.message, err.code,
                   err.id);
  const message_kind k = msg.info.kind;
  if (k != message_kind::request && k != message_kind::notification)
    return refusal(http::status::bad_request, reject_reason::bad_message,
                   "Invalid Request: the body must be a single JSON-RPC request or notification "
                   "object (the stateless era has no batches, and clients send no responses)");
  json::parse_options opt;
  opt.max_depth = max_json_depth;
  const json::value v = json::parse(msg.raw, {}, opt);  // classify() parsed it already
  if (k == message_kind::notification) {
    if (auto rej = check_modern_notification(v.as_object())) return refuse(*rej, {});
    return std::nullopt;
  }
  routing_headers h;
  if (r.mcp_version) h.version = *r.mcp_version;
  if (r.mcp_method) h.method = *r.mcp_method;
  if (r.mcp_name) h.name = *r.mcp_name;
  h.duplicated = r.duplicated_header;
  if (auto rej = check_modern_request(v.as_object(), h)) return refuse(*rej, msg.info.id);
  if (msg.info.method == "subscriptions/listen" && !r.accept_sse)
    return refusal(http::status::not_acceptable, reject_reason::not_acceptable,
                   "Not Acceptable: subscriptions/listen answers with text/event-stream",
                   rpc_error::invalid_request, msg.info.id);
  return std::nullopt;
}

}  // namespace mcpfwd
