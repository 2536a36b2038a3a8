#include "protocol/era.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "protocol/message.hpp"

namespace mcpfwd {

namespace json = boost::json;

bool is_handshake_version(std::string_view v) noexcept {
  return std::find(handshake_versions.begin(), handshake_versions.end(), v) !=
         handshake_versions.end();
}

bool is_modern_version(std::string_view v) noexcept {
  return std::find(modern_versions.begin(), modern_versions.end(), v) != modern_versions.end();
}

bool header_says_modern(std::string_view value, bool present) noexcept {
  return present && !is_handshake_version(value);
}

unsigned http_status_for_error(int code) noexcept {
  switch (code) {
    case rpc_error::parse_error:
    case rpc_error::invalid_request:
    case rpc_error::invalid_params:
    case rpc_error::header_mismatch:
    case rpc_error::missing_capability:
    case rpc_error::unsupported_version: return 400;
    case rpc_error::method_not_found: return 404;
    default: return 200;
  }
}

bool removed_in_modern(std::string_view m) noexcept {
  return m == "initialize" || m == "ping" || m == "logging/setLevel" ||
         m == "resources/subscribe" || m == "resources/unsubscribe";
}

std::optional<std::string> decode_header_value(std::string_view v) {
  constexpr std::string_view pre = "=?base64?", post = "?=";
  if (!v.starts_with(pre) || !v.ends_with(post) || v.size() < pre.size() + post.size())
    return std::string(v);
  const std::string_view b = v.substr(pre.size(), v.size() - pre.size() - post.size());
  if (b.size() % 4 != 0) return std::nullopt;
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(b.size() / 4 * 3);
  for (std::size_t i = 0; i < b.size(); i += 4) {
    const bool last = i + 4 == b.size();
    const int pad = last ? (b[i + 3] == '=') + (b[i + 2] == '=' && b[i + 3] == '=') : 0;
    unsigned acc = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      if (j >= 4 - static_cast<std::size_t>(pad)) {
        acc <<= 6;
        continue;
      }
      const int s = sextet(b[i + j]);
      if (s < 0) return std::nullopt;
      acc = (acc << 6) | static_cast<unsigned>(s);
    }
    out += static_cast<char>((acc >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((acc >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(acc & 0xff);
  }
  return out;
}

namespace {

ladder_rejection reject(unsigned status, int code, std::string text, std::string data = {}) {
  return ladder_rejection{status, code, std::move(text), std::move(data)};
}

const json::object* meta_of(const json::object& msg) {
  const auto* params = msg.if_contains("params");
  if (params == nullptr || !params->is_object()) return nullptr;
  const auto* meta = params->as_object().if_contains("_meta");
  return meta != nullptr && meta->is_object() ? &meta->as_object() : nullptr;
}

std::string supported_json() {
  json::array a;
  for (auto v : modern_versions) a.emplace_back(json::string_view(v.data(), v.size()));
  return json::serialize(a);
}

std::optional<ladder_rejection> check_version(const json::value& v) {
  if (!v.is_string())
    return reject(400, rpc_error::invalid_params,
                  "params._meta: the protocol version must be a string");
  const std::string_view s(v.as_string().data(), v.as_string().size());
  if (is_modern_version(s)) return std::nullopt;
  json::object data;
  data["supported"] = json::parse(supported_json());
  data["requested"] = v;
  return reject(400, rpc_error::unsupported_version, "Unsupported protocol version",
                json::serialize(data));
}

}  // namespace

std::optional<ladder_rejection> check_modern_request(const json::object& req,
                                                     const routing_headers& h) {
  if (!h.duplicated.empty())
    return reject(400, rpc_error::header_mismatch,
                  std::string(h.duplicated) + " header appears more than once");
  const json::object* meta = meta_of(req);
  if (meta == nullptr)
    return reject(400, rpc_error::invalid_params,
                  "params._meta must be an object carrying the required '" +
                      std::string(meta_protocol_version) + "' and '" +
                      std::string(meta_client_capabilities) + "' envelope keys");
  std::string missing;
  for (auto key : {meta_protocol_version, meta_client_capabilities})
    if (!meta->contains(json::string_view(key.data(), key.size())))
      missing += (missing.empty() ? "" : ", ") + std::string(key);
  if (!missing.empty())
    return reject(400, rpc_error::invalid_params,
                  "params._meta is missing the required envelope key(s): " + missing);
  const json::value& version =
      meta->at(json::string_view(meta_protocol_version.data(), meta_protocol_version.size()));
  const json::value* method = req.if_contains("method");
  const std::string_view m =
      method && method->is_string() ? std::string_view(method->as_string()) : std::string_view();
  // The headers agree with the body (before the version rung: a client that
  // disagrees with itself is told so).
  if (!h.version || !version.is_string() || *h.version != std::string_view(version.as_string()))
    return reject(400, rpc_error::header_mismatch,
                  "MCP-Protocol-Version header does not match the request envelope's protocol "
                  "version");
  if (!h.method || *h.method != m)
    return reject(400, rpc_error::header_mismatch,
                  "Mcp-Method header does not match the request body's method");
  const char* name_key = m == "tools/call" || m == "prompts/get" ? "name"
                         : m == "resources/read"                 ? "uri"
                                                                 : nullptr;
  if (name_key != nullptr) {
    const auto& params = req.at("params").as_object();
    const json::value* body_name = params.if_contains(name_key);
    if (body_name != nullptr && !body_name->is_null()) {
      std::optional<std::string> header =
          h.name ? decode_header_value(*h.name) : std::optional<std::string>();
      if (!header || !body_name->is_string() || *header != std::string_view(body_name->as_string()))
        return reject(400, rpc_error::header_mismatch,
                      std::string("Mcp-Name header does not match the request body's '") +
                          name_key + "' parameter");
    }
  }
  if (auto r = check_version(version)) return r;
  if (removed_in_modern(m))
    return reject(404, rpc_error::method_not_found,
                  "Method not found: " + std::string(m) + " does not exist in " +
                      std::string(latest_modern_version));
  return std::nullopt;
}

std::optional<ladder_rejection> check_modern_notification(const json::object& note) {
  const json::object* meta = meta_of(note);
  if (meta == nullptr) return std::nullopt;
  const json::value* version = meta->if_contains(
      json::string_view(meta_protocol_version.data(), meta_protocol_version.size()));
  if (version == nullptr) return std::nullopt;
  return check_version(*version);
}

std::string make_rejection_response(std::string_view id_json, const ladder_rejection& r) {
  std::string body = make_error_response(id_json, r.code, r.message);
  if (r.data_json.empty()) return body;
  // {"jsonrpc":"2.0","id":...,"error":{"code":...,"message":"..."}} -> add data
  json::value v = json::parse(body);
  v.as_object()["error"].as_object()["data"] = json::parse(r.data_json);
  return json::serialize(v);
}

ladder_rejection legacy_only_rejection(std::string_view requested) {
  json::object data;
  json::array supported;
  for (auto v : handshake_versions) supported.emplace_back(json::string_view(v.data(), v.size()));
  data["supported"] = std::move(supported);
  data["requested"] = json::string_view(requested.data(), requested.size());
  return reject(400, rpc_error::unsupported_version,
                "Unsupported protocol version: this server serves only the session era "
                "(initialize)",
                json::serialize(data));
}

std::string modern_probe_request(std::string_view id_json) {
  json::object meta;
  meta[json::string_view(meta_protocol_version.data(), meta_protocol_version.size())] =
      json::string_view(latest_modern_version.data(), latest_modern_version.size());
  meta[json::string_view(meta_client_capabilities.data(), meta_client_capabilities.size())] =
      json::object();
  meta[json::string_view(meta_client_info.data(), meta_client_info.size())] =
      json::object{{"name", "mcpfwd"}, {"version", "probe"}};
  json::object req;
  req["jsonrpc"] = "2.0";
  req["id"] = json::parse(id_json);
  req["method"] = "server/discover";
  req["params"] = json::object{{"_meta", std::move(meta)}};
  return json::serialize(req);
}

bool probe_says_modern(std::string_view answer) {
  json::parse_options opt;
  opt.max_depth = max_json_depth;
  boost::system::error_code ec;
  const json::value v = json::parse(answer, ec, {}, opt);
  if (ec || !v.is_object()) return false;
  auto names_modern = [](const json::value* list) {
    if (list == nullptr || !list->is_array()) return false;
    for (const auto& e : list->as_array())
      if (e.is_string() && is_modern_version(std::string_view(e.as_string()))) return true;
    return false;
  };
  const auto& o = v.as_object();
  if (const auto* r = o.if_contains("result"); r != nullptr && r->is_object())
    return names_modern(r->as_object().if_contains("supportedVersions"));
  if (const auto* e = o.if_contains("error"); e != nullptr && e->is_object()) {
    const auto& err = e->as_object();
    const auto* code = err.if_contains("code");
    const auto* data = err.if_contains("data");
    if (code == nullptr || !code->is_int64() ||
        code->as_int64() != rpc_error::unsupported_version || data == nullptr || !data->is_object())
      return false;
    return names_modern(data->as_object().if_contains("supported"));
  }
  return false;
}

namespace {

template <class Fn>
std::string rewrite(std::string_view raw, Fn&& fn) {
  json::parse_options opt;
  opt.max_depth = max_json_depth;
  boost::system::error_code ec;
  json::value v = json::parse(raw, ec, {}, opt);
  if (ec || !v.is_object()) return {};
  fn(v.as_object());
  return json::serialize(v);
}

json::object* object_at(json::object& o, std::string_view key) {
  auto* p = o.if_contains(json::string_view(key.data(), key.size()));
  return p != nullptr && p->is_object() ? &p->as_object() : nullptr;
}

}  // namespace

std::string with_request_id(std::string_view raw, std::string_view id_json,
                            std::string_view token_json) {
  return rewrite(raw, [&](json::object& o) {
    o["id"] = json::parse(id_json);
    if (token_json.empty()) return;
    if (auto* params = object_at(o, "params"))
      if (auto* meta = object_at(*params, "_meta"); meta && meta->contains("progressToken"))
        (*meta)["progressToken"] = json::parse(token_json);
  });
}

std::string with_response_id(std::string_view raw, std::string_view id_json) {
  return rewrite(raw, [&](json::object& o) { o["id"] = json::parse(id_json); });
}

std::string with_progress_token(std::string_view raw, std::string_view token_json) {
  return rewrite(raw, [&](json::object& o) {
    if (auto* params = object_at(o, "params")) (*params)["progressToken"] = json::parse(token_json);
  });
}

std::string with_cancelled_id(std::string_view raw, std::string_view id_json) {
  return rewrite(raw, [&](json::object& o) {
    if (auto* params = object_at(o, "params")) (*params)["requestId"] = json::parse(id_json);
  });
}

std::string subscription_id_of(std::string_view raw) {
  if (raw.find(meta_subscription_id) == std::string_view::npos) return {};  // the usual case
  std::string out;
  rewrite(raw, [&](json::object& o) {
    auto* params = object_at(o, "params");
    auto* meta = params ? object_at(*params, "_meta") : nullptr;
    if (meta == nullptr) return;
    if (const auto* s = meta->if_contains(
            json::string_view(meta_subscription_id.data(), meta_subscription_id.size()));
        s != nullptr && (s->is_string() || s->is_number()))
      out = json::serialize(*s);
  });
  return out;
}

std::string with_subscription_id(std::string_view raw, std::string_view id_json) {
  return rewrite(raw, [&](json::object& o) {
    auto* params = object_at(o, "params");
    auto* meta = params ? object_at(*params, "_meta") : nullptr;
    if (meta != nullptr)
      (*meta)[json::string_view(meta_subscription_id.data(), meta_subscription_id.size())] =
          json::parse(id_json);
  });
}

std::string envelope_version(std::string_view raw) {
  if (raw.find(meta_protocol_version) == std::string_view::npos) return {};
  std::string out;
  rewrite(raw, [&](json::object& o) {
    const auto* m = o.if_contains("method");
    if (m == nullptr || !m->is_string() || m->as_string() == "initialize") return;
    auto* params = object_at(o, "params");
    auto* meta = params ? object_at(*params, "_meta") : nullptr;
    if (meta == nullptr) return;
    if (const auto* v = meta->if_contains(
            json::string_view(meta_protocol_version.data(), meta_protocol_version.size()));
        v != nullptr && v->is_string())
      out = std::string(v->as_string());
  });
  return out;
}

std::string encode_header_value(std::string_view v) {
  const bool plain = std::all_of(v.begin(), v.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (plain && !v.starts_with("=?base64?")) return std::string(v);
  static constexpr char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "=?base64?";
  std::size_t i = 0;
  for (; i + 2 < v.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(v[i]) << 16) |
                       (static_cast<unsigned char>(v[i + 1]) << 8) |
                       static_cast<unsigned char>(v[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += tab[(n >> k) & 63];
  }
  if (i < v.size()) {
    unsigned n = static_cast<unsigned char>(v[i]) << 16;
    if (i + 1 < v.size()) n |= static_cast<unsigned char>(v[i + 1]) << 8;
    out += tab[(n >> 18) & 63];
    out += tab[(n >> 12) & 63];
    out += i + 1 < v.size() ? tab[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out + "?=";
}

std::string routing_header_lines(std::string_view raw, std::string_view version) {
  std::string out;
  rewrite(raw, [&](json::object& o) {
    const auto* m = o.if_contains("method");
    if (m == nullptr || !m->is_string() || version.empty()) return;
    const std::string_view method(m->as_string());
    out = "MCP-Protocol-Version: " + std::string(version) + "\r\nMcp-Method: " +
          encode_header_value(method) + "\r\n";
    const char* key = method == "tools/call" || method == "prompts/get" ? "name"
                      : method == "resources/read"                       ? "uri"
                                                                         : nullptr;
    auto* params = object_at(o, "params");
    if (key != nullptr && params != nullptr)
      if (const auto* n = params->if_contains(key); n != nullptr && n->is_string())
        out += "Mcp-Name: " + encode_header_value(std::string_view(n->as_string())) + "\r\n";
  });
  return out;
}

}  // namespace mcpfwd
