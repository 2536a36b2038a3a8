#include "protocol/era.hpp"

#include <algorithm>
#include <cctype>
#include <functional>

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

namespace {

bool valid_utf8(std::string_view s);

std::string base64(std::string_view v) {
  static constexpr char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < v.size(); i += 3) {
    const unsigned n = (static_cast<unsigned>(static_cast<unsigned char>(v[i])) << 16) |
                       (static_cast<unsigned>(static_cast<unsigned char>(v[i + 1])) << 8) |
                       static_cast<unsigned char>(v[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += tab[(n >> k) & 63];
  }
  if (i < v.size()) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(v[i])) << 16;
    if (i + 1 < v.size()) n |= static_cast<unsigned>(static_cast<unsigned char>(v[i + 1])) << 8;
    out += tab[(n >> 18) & 63];
    out += tab[(n >> 12) & 63];
    out += i + 1 < v.size() ? tab[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

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
  // Canonical base64 of UTF-8 text only: another spelling of the same
  // bytes, or bytes that are not text, never match a body value.
  if (base64(out) != b || !valid_utf8(out)) return std::nullopt;
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
  return "=?base64?" + base64(v) + "?=";
}

std::string routing_header_lines(std::string_view raw, std::string_view version) {
  std::string out;
  rewrite(raw, [&](json::object& o) {
    const auto* m = o.if_contains("method");
    if (m == nullptr || !m->is_string() || version.empty()) return;
    const std::string_view method(m->as_string());
    out = "MCP-Protocol-Version: " + std::string(version) +
          "\r\nMcp-Method: " + encode_header_value(method) + "\r\n";
    const char* key = method == "tools/call" || method == "prompts/get" ? "name"
                      : method == "resources/read"                      ? "uri"
                                                                        : nullptr;
    auto* params = object_at(o, "params");
    if (key != nullptr && params != nullptr)
      if (const auto* n = params->if_contains(key); n != nullptr && n->is_string())
        out += "Mcp-Name: " + encode_header_value(std::string_view(n->as_string())) + "\r\n";
  });
  return out;
}

namespace {

bool rfc9110_token(std::string_view t) {
  if (t.empty()) return false;
  for (char c : t) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Every schema position, with its chain of pure `properties` keys (nullopt
// once off that chain). Bounded by the nesting limit of the parse.
void walk(const json::value& schema, std::optional<std::vector<std::string>> path, unsigned depth,
          const std::function<void(const json::object&,
                                   const std::optional<std::vector<std::string>>&)>& fn) {
  if (!schema.is_object() || depth > max_json_depth) return;
  const auto& o = schema.as_object();
  fn(o, path);
  for (const auto& [k, v] : o) {
    if (k == "properties" && v.is_object()) {
      for (const auto& [name, sub] : v.as_object()) {
        std::optional<std::vector<std::string>> p;
        if (path) {
          p = *path;
          p->emplace_back(name);
        }
        walk(sub, p, depth + 1, fn);
      }
    } else if (k == "items" || k == "contains" || k == "unevaluatedItems" ||
               k == "additionalProperties" || k == "propertyNames" ||
               k == "unevaluatedProperties" || k == "not" || k == "if" || k == "then" ||
               k == "else") {
      walk(v, std::nullopt, depth + 1, fn);
    } else if ((k == "allOf" || k == "anyOf" || k == "oneOf" || k == "prefixItems") &&
               v.is_array()) {
      for (const auto& e : v.as_array()) walk(e, std::nullopt, depth + 1, fn);
    } else if ((k == "$defs" || k == "definitions" || k == "patternProperties" ||
                k == "dependentSchemas") &&
               v.is_object()) {
      for (const auto& [n, sub] : v.as_object()) {
        (void)n;
        walk(sub, std::nullopt, depth + 1, fn);
      }
    }
  }
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80         ? 1
                          : (c >> 5) == 6  ? 2
                          : (c >> 4) == 14 ? 3
                          : (c >> 3) == 30 ? 4
                                           : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

// How a client renders an argument into its header (bool as true/false,
// strings as they are, integers in decimal); nullopt when it has none.
std::optional<std::string> render(const json::value& v) {
  if (v.is_bool()) return std::string(v.as_bool() ? "true" : "false");
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  if (v.is_double()) return json::serialize(v);
  return std::nullopt;
}

}  // namespace

std::vector<param_header> header_params(const json::value& input_schema) {
  std::vector<param_header> out;
  bool invalid = false;
  walk(input_schema, std::vector<std::string>{}, 0,
       [&](const json::object& o, const std::optional<std::vector<std::string>>& path) {
         const auto* h = o.if_contains("x-mcp-header");
         if (h == nullptr) return;
         const auto* type = o.if_contains("type");
         if (!path || path->empty() || !h->is_string() ||
             !rfc9110_token(std::string_view(h->as_string())) || type == nullptr ||
             !type->is_string() ||
             (type->as_string() != "string" && type->as_string() != "integer" &&
              type->as_string() != "boolean")) {
           invalid = true;
           return;
         }
         for (const auto& p : out)
           if (iequal(p.token, std::string_view(h->as_string()))) invalid = true;
         out.push_back({std::string(h->as_string()), *path, std::string(type->as_string())});
       });
  if (invalid) out.clear();
  return out;
}

std::optional<ladder_rejection> check_param_headers(
    const std::vector<param_header>& params, const json::object* arguments,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  auto mismatch = [](std::string text) {
    return reject(400, rpc_error::header_mismatch, std::move(text));
  };
  for (const auto& p : params) {
    const std::string name = "Mcp-Param-" + p.token;
    const std::string* raw = nullptr;
    int copies = 0;
    for (const auto& [k, v] : headers)
      if (iequal(k, name)) {
        raw = &v;
        ++copies;
      }
    if (copies > 1) return mismatch(name + " header appears more than once");
    // The argument, down the chain of properties.
    const json::value* value = nullptr;
    const json::object* node = arguments;
    for (std::size_t i = 0; node != nullptr && i < p.path.size(); ++i) {
      value = node->if_contains(p.path[i]);
      if (value == nullptr) break;
      node = i + 1 < p.path.size() && value->is_object() ? &value->as_object() : nullptr;
      if (i + 1 < p.path.size() && node == nullptr) value = nullptr;
    }
    std::string argument;
    for (const auto& k : p.path) argument += (argument.empty() ? "" : ".") + k;
    if (value == nullptr || value->is_null()) {
      if (raw != nullptr)
        return mismatch(name + " header is present but the request body's '" + argument +
                        "' argument is absent");
      continue;
    }
    const std::optional<std::string> rendered = render(*value);
    if (!rendered) {
      if (raw != nullptr)
        return mismatch(name + " header does not match the request body's '" + argument +
                        "' argument");
      continue;
    }
    if (raw == nullptr)
      return mismatch(name + " header is missing but the request body's '" + argument +
                      "' argument is present");
    if (!std::all_of(raw->begin(), raw->end(), [](char c) {
          return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
        }))
      return mismatch(name + " header carries characters that are not visible ASCII");
    const std::optional<std::string> decoded = decode_header_value(*raw);
    if (!decoded) return mismatch(name + " header carries a malformed base64 sentinel value");
    bool same = *decoded == *rendered;
    if (!same && p.type == "integer" && (value->is_number())) {
      // 42 matches 42.0 (an integral body value), compared exactly.
      std::string_view d = *decoded;
      const auto dot = d.find('.');
      const std::string_view whole = d.substr(0, dot);
      const bool zeros = dot == std::string_view::npos ||
                         d.substr(dot + 1).find_first_not_of('0') == std::string_view::npos;
      if (zeros && !whole.empty() && value->is_double() &&
          value->as_double() == static_cast<double>(static_cast<long long>(value->as_double())))
        same = whole == std::to_string(static_cast<long long>(value->as_double()));
      else if (zeros && !whole.empty() && value->is_int64())
        same = whole == std::to_string(value->as_int64());
    }
    if (!same)
      return mismatch(name + " header does not match the request body's '" + argument +
                      "' argument");
  }
  return std::nullopt;
}

}  // namespace mcpfwd
