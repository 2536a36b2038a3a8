#include "protocol/bridge.hpp"

#include <boost/json.hpp>

#include "protocol/era.hpp"

namespace mcpfwd {

namespace json = boost::json;

namespace {

json::string_view sv(std::string_view s) {
  return {s.data(), s.size()};
}

std::optional<json::object> parse_object(std::string_view raw) {
  boost::system::error_code ec;
  json::value v = json::parse(raw, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

json::object* object_at(json::object& o, std::string_view key) {
  auto* v = o.if_contains(sv(key));
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

const json::object* object_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(sv(key));
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

bool flag(const json::object* o, std::string_view key) {
  if (o == nullptr) return false;
  const auto* v = o->if_contains(sv(key));
  return v != nullptr && v->is_bool() && v->as_bool();
}

json::value parse_or_null(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? json::value() : v;
}

}  // namespace

std::string bridge_initialize_request(std::string_view id_json, std::string_view modern_request) {
  json::object caps, info{{"name", "mcpfwd-bridge"}, {"version", "1"}};
  if (auto o = parse_object(modern_request)) {
    const auto* params = object_at(*o, "params");
    const auto* meta = params ? object_at(*params, "_meta") : nullptr;
    if (const auto* c = meta ? object_at(*meta, meta_client_capabilities) : nullptr) caps = *c;
    if (const auto* i = meta ? object_at(*meta, meta_client_info) : nullptr) info = *i;
  }
  json::object params{{"protocolVersion", sv(bridge_handshake_version)}};
  params["capabilities"] = std::move(caps);
  params["clientInfo"] = std::move(info);
  json::object req{{"jsonrpc", "2.0"}, {"id", parse_or_null(id_json)}, {"method", "initialize"}};
  req["params"] = std::move(params);
  return json::serialize(req);
}

std::optional<legacy_server> parse_initialize_result(std::string_view response) {
  auto o = parse_object(response);
  if (!o) return std::nullopt;
  const auto* r = object_at(*o, "result");
  if (r == nullptr) return std::nullopt;
  const auto* v = r->if_contains("protocolVersion");
  if (v == nullptr || !v->is_string()) return std::nullopt;
  legacy_server s;
  s.protocol_version = std::string(v->as_string());
  if (const auto* c = object_at(*r, "capabilities")) {
    json::object caps = *c;
    caps.erase("tasks");  // not in the 2026 core (an extension there)
    s.capabilities_json = json::serialize(caps);
    s.logging = object_at(caps, "logging") != nullptr;
    const auto* res = object_at(caps, "resources");
    s.subscribe = flag(res, "subscribe");
    s.resources_changed = flag(res, "listChanged");
    s.tools_changed = flag(object_at(caps, "tools"), "listChanged");
    s.prompts_changed = flag(object_at(caps, "prompts"), "listChanged");
  }
  if (const auto* i = object_at(*r, "serverInfo")) s.server_info_json = json::serialize(*i);
  if (const auto* i = r->if_contains("instructions"); i != nullptr && i->is_string())
    s.instructions_json = json::serialize(*i);
  return s;
}

std::string bridge_discover_response(std::string_view id_json, const legacy_server& s) {
  json::object result;
  result["supportedVersions"] = json::array{sv(latest_modern_version)};
  result["capabilities"] = parse_or_null(s.capabilities_json);
  if (!s.instructions_json.empty()) result["instructions"] = parse_or_null(s.instructions_json);
  if (!s.server_info_json.empty())
    result["_meta"] = json::object{{"serverInfo", parse_or_null(s.server_info_json)}};
  result["ttlMs"] = 0;
  result["cacheScope"] = "private";
  result["resultType"] = "complete";
  return result_response(id_json, json::serialize(result));
}

std::string bridge_request_to_legacy(std::string_view raw) {
  auto o = parse_object(raw);
  if (!o) return {};
  if (auto* params = object_at(*o, "params")) {
    params->erase("inputResponses");
    params->erase("requestState");
    if (auto* meta = object_at(*params, "_meta")) {
      for (auto key :
           {meta_protocol_version, meta_client_capabilities, meta_client_info, meta_log_level})
        meta->erase(sv(key));
      if (meta->empty()) params->erase("_meta");
    }
  }
  return json::serialize(*o);
}

std::optional<modern_envelope> read_envelope(std::string_view raw) {
  auto o = parse_object(raw);
  if (!o) return std::nullopt;
  modern_envelope e;
  const auto* params = object_at(*o, "params");
  if (params == nullptr) return e;
  if (const auto* meta = object_at(*params, "_meta")) {
    if (const auto* c = object_at(*meta, meta_client_capabilities))
      e.client_capabilities_json = json::serialize(*c);
    if (const auto* l = meta->if_contains(sv(meta_log_level)); l != nullptr && l->is_string())
      e.log_level = std::string(l->as_string());
  }
  if (const auto* st = params->if_contains("requestState")) {
    e.has_request_state = true;
    if (st->is_string()) e.request_state = std::string(st->as_string());
  }
  if (const auto* ir = params->if_contains("inputResponses"))
    e.input_responses_json = json::serialize(*ir);
  for (const char* k : {"name", "uri"})
    if (const auto* n = params->if_contains(k); n != nullptr && n->is_string()) {
      e.name = std::string(n->as_string());
      break;
    }
  return e;
}

std::string bridge_response_to_modern(std::string_view raw, std::string_view method) {
  auto o = parse_object(raw);
  if (!o) return std::string(raw);
  auto* r = object_at(*o, "result");
  if (r == nullptr) return std::string(raw);  // an error: as it is
  if (!r->contains("resultType")) (*r)["resultType"] = "complete";
  const bool cacheable = method == "tools/list" || method == "prompts/list" ||
                         method == "resources/list" || method == "resources/templates/list" ||
                         method == "resources/read";
  if (cacheable) {
    if (!r->contains("ttlMs")) (*r)["ttlMs"] = 0;
    if (!r->contains("cacheScope")) (*r)["cacheScope"] = "private";
  }
  if (method == "tools/list")
    if (auto* tools = r->if_contains("tools"); tools != nullptr && tools->is_array())
      for (auto& t : tools->as_array())
        if (t.is_object()) t.as_object().erase("execution");
  return json::serialize(*o);
}

bool mrtr_method(std::string_view method) noexcept {
  return method == "tools/call" || method == "prompts/get" || method == "resources/read";
}

std::string_view capability_for(std::string_view server_method) noexcept {
  if (server_method == "sampling/createMessage") return "sampling";
  if (server_method == "elicitation/create") return "elicitation";
  if (server_method == "roots/list") return "roots";
  return {};
}

bool declares_capability(std::string_view capabilities_json, std::string_view cap) {
  auto o = parse_object(capabilities_json);
  return o && !cap.empty() && o->if_contains(sv(cap)) != nullptr && !o->at(sv(cap)).is_null() &&
         !(o->at(sv(cap)).is_bool() && !o->at(sv(cap)).as_bool());
}

std::string input_required_response(std::string_view id_json,
                                    const std::vector<input_request>& pending,
                                    std::string_view request_state) {
  json::object reqs;
  for (const auto& p : pending) {
    json::object one{{"method", sv(p.method)}};
    if (!p.params_json.empty()) one["params"] = parse_or_null(p.params_json);
    reqs[sv(p.key)] = std::move(one);
  }
  json::object result{{"resultType", "input_required"}};
  if (!reqs.empty()) result["inputRequests"] = std::move(reqs);
  result["requestState"] = sv(request_state);
  return result_response(id_json, json::serialize(result));
}

std::string input_response_for(std::string_view input_responses_json, std::string_view key) {
  auto o = parse_object(input_responses_json);
  if (!o) return {};
  const auto* v = object_at(*o, key);
  return v ? json::serialize(*v) : std::string();
}

std::string result_response(std::string_view id_json, std::string_view result_json) {
  json::object res{{"jsonrpc", "2.0"}, {"id", parse_or_null(id_json)}};
  res["result"] = parse_or_null(result_json);
  return json::serialize(res);
}

std::string make_request_state(std::string_view random_hex, std::uint64_t generation) {
  return "mcpfwd-b1." + std::string(random_hex) + "." + std::to_string(generation);
}

bool looks_like_request_state(std::string_view s) noexcept {
  constexpr std::string_view prefix = "mcpfwd-b1.";
  if (!s.starts_with(prefix) || s.size() < prefix.size() + 34) return false;
  for (std::size_t i = prefix.size(); i < prefix.size() + 32; ++i) {
    const char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  if (s[prefix.size() + 32] != '.') return false;
  for (char c : s.substr(prefix.size() + 33))
    if (c < '0' || c > '9') return false;
  return true;
}

std::optional<listen_filter> honoured_filter(std::string_view listen_request,
                                             const legacy_server& s) {
  auto o = parse_object(listen_request);
  if (!o) return std::nullopt;
  const auto* params = object_at(*o, "params");
  const auto* n = params ? object_at(*params, "notifications") : nullptr;
  if (n == nullptr) return std::nullopt;
  listen_filter f;
  f.tools = s.tools_changed && flag(n, "toolsListChanged");
  f.prompts = s.prompts_changed && flag(n, "promptsListChanged");
  f.resources = s.resources_changed && flag(n, "resourcesListChanged");
  if (const auto* u = n->if_contains("resourceSubscriptions"); s.subscribe && u && u->is_array())
    for (const auto& uri : u->as_array())
      if (uri.is_string()) f.uris.emplace_back(uri.as_string());
  return f;
}

std::string listen_acknowledgement(const listen_filter& f, std::string_view id_json) {
  json::object n;
  if (f.tools) n["toolsListChanged"] = true;
  if (f.prompts) n["promptsListChanged"] = true;
  if (f.resources) n["resourcesListChanged"] = true;
  if (!f.uris.empty()) {
    json::array a;
    for (const auto& u : f.uris) a.emplace_back(sv(u));
    n["resourceSubscriptions"] = std::move(a);
  }
  json::object params;
  params["notifications"] = std::move(n);
  params["_meta"] = json::object{{sv(meta_subscription_id), parse_or_null(id_json)}};
  json::object note{{"jsonrpc", "2.0"}, {"method", "notifications/subscriptions/acknowledged"}};
  note["params"] = std::move(params);
  return json::serialize(note);
}

bool listen_wants(const listen_filter& f, std::string_view notification) {
  auto o = parse_object(notification);
  if (!o) return false;
  const auto* m = o->if_contains("method");
  if (m == nullptr || !m->is_string()) return false;
  const std::string_view method = m->as_string();
  if (method == "notifications/tools/list_changed") return f.tools;
  if (method == "notifications/prompts/list_changed") return f.prompts;
  if (method == "notifications/resources/list_changed") return f.resources;
  if (method == "notifications/resources/updated") {
    const auto* params = object_at(*o, "params");
    const auto* uri = params ? params->if_contains("uri") : nullptr;
    if (uri == nullptr || !uri->is_string()) return false;
    for (const auto& u : f.uris)
      if (u == std::string_view(uri->as_string())) return true;
  }
  return false;
}

std::string with_subscription(std::string_view raw, std::string_view id_json) {
  auto o = parse_object(raw);
  if (!o) return {};
  auto* params = object_at(*o, "params");
  if (params == nullptr) {
    (*o)["params"] = json::object();
    params = &(*o)["params"].as_object();
  }
  auto* meta = object_at(*params, "_meta");
  if (meta == nullptr) {
    (*params)["_meta"] = json::object();
    meta = &(*params)["_meta"].as_object();
  }
  (*meta)[sv(meta_subscription_id)] = parse_or_null(id_json);
  return json::serialize(*o);
}

}  // namespace mcpfwd
