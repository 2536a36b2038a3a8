#include "protocol/bridge_legacy_client.hpp"

#include <boost/json.hpp>

#include "protocol/era.hpp"
#include "protocol/message.hpp"

namespace mcpfwd::bridge_l2m {

namespace json = boost::json;

namespace {

std::optional<json::value> parse(std::string_view text) {
  json::parse_options opt;
  opt.max_depth = max_json_depth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opt);
  if (ec) return std::nullopt;
  return v;
}

std::optional<json::object> parse_object(std::string_view text) {
  auto v = parse(text);
  if (!v || !v->is_object()) return std::nullopt;
  return std::move(v->as_object());
}

json::value id_value(std::string_view id_json) {
  if (id_json.empty()) return nullptr;
  auto v = parse(id_json);
  return v ? std::move(*v) : json::value(nullptr);
}

json::string_view key(std::string_view k) {
  return {k.data(), k.size()};
}

json::object envelope(const client_handshake& h, std::string_view log_level) {
  json::object meta;
  meta[key(meta_protocol_version)] = key(latest_modern_version);
  auto caps = parse(h.capabilities);
  meta[key(meta_client_capabilities)] =
      caps && caps->is_object() ? std::move(*caps) : json::value(json::object());
  if (auto info = parse(h.client_info); info && info->is_object())
    meta[key(meta_client_info)] = std::move(*info);
  else
    meta[key(meta_client_info)] = json::object{{"name", "mcpfwd-bridge"}, {"version", "0"}};
  if (!log_level.empty()) meta[key(meta_log_level)] = key(log_level);
  return meta;
}

const json::object* params_of(const json::object& o) {
  auto it = o.find("params");
  return it != o.end() && it->value().is_object() ? &it->value().as_object() : nullptr;
}

const json::object* result_of(const json::object& o) {
  auto it = o.find("result");
  return it != o.end() && it->value().is_object() ? &it->value().as_object() : nullptr;
}

std::string string_at(const json::object* o, std::string_view k) {
  if (o == nullptr) return {};
  auto it = o->find(key(k));
  return it != o->end() && it->value().is_string() ? std::string(it->value().as_string())
                                                   : std::string();
}

}  // namespace

std::optional<client_handshake> parse_initialize(std::string_view raw) {
  auto o = parse_object(raw);
  if (!o) return std::nullopt;
  client_handshake h;
  h.capabilities = "{}";
  if (const json::object* p = params_of(*o)) {
    h.version = string_at(p, "protocolVersion");
    if (auto it = p->find("capabilities"); it != p->end() && it->value().is_object())
      h.capabilities = json::serialize(it->value());
    if (auto it = p->find("clientInfo"); it != p->end() && it->value().is_object())
      h.client_info = json::serialize(it->value());
  }
  return h;
}

bool refuses_handshake(std::string_view answer) {
  auto o = parse_object(answer);
  if (!o) return false;
  auto e = o->find("error");
  if (e == o->end() || !e->value().is_object()) return false;
  const json::object& err = e->value().as_object();
  auto code = err.find("code");
  if (code == err.end() || !code->value().is_int64() ||
      code->value().as_int64() != rpc_error::unsupported_version)
    return false;
  auto data = err.find("data");
  if (data == err.end() || !data->value().is_object()) return false;
  auto sup = data->value().as_object().find("supported");
  if (sup == data->value().as_object().end() || !sup->value().is_array()) return false;
  const json::array& list = sup->value().as_array();
  if (list.empty()) return false;
  for (const auto& v : list)
    if (!v.is_string() || is_handshake_version(std::string_view(v.as_string()))) return false;
  return true;
}

std::string negotiate_version(std::string_view requested) {
  if (is_handshake_version(requested)) return std::string(requested);
  return std::string(handshake_versions.back());
}

bool client_declares(const client_handshake& h, std::string_view method) {
  std::string_view cap;
  if (method == "sampling/createMessage")
    cap = "sampling";
  else if (method == "elicitation/create")
    cap = "elicitation";
  else if (method == "roots/list")
    cap = "roots";
  else
    return false;
  auto caps = parse_object(h.capabilities);
  return caps && caps->contains(key(cap));
}

std::string discover_request(std::string_view id_json, const client_handshake& h) {
  json::object req;
  req["jsonrpc"] = "2.0";
  req["id"] = id_value(id_json);
  req["method"] = "server/discover";
  req["params"] = json::object{{"_meta", envelope(h, {})}};
  return json::serialize(req);
}

std::string initialize_answer(std::string_view discover_answer, std::string_view client_id,
                              const client_handshake& h) {
  auto o = parse_object(discover_answer);
  if (!o)
    return make_error_response(client_id, rpc_error::upstream_error,
                               "mcpfwd: the server's answer to server/discover is not JSON");
  const json::object* r = result_of(*o);
  if (r == nullptr) return client_answer(discover_answer, client_id);
  json::object res;
  res["protocolVersion"] = negotiate_version(h.version);
  auto caps = r->find("capabilities");
  res["capabilities"] =
      caps != r->end() && caps->value().is_object() ? caps->value() : json::value(json::object());
  json::value info = json::object{{"name", "unknown"}, {"version", "0"}};
  if (auto m = r->find("_meta"); m != r->end() && m->value().is_object()) {
    auto si = m->value().as_object().find("io.modelcontextprotocol/serverInfo");
    if (si != m->value().as_object().end() && si->value().is_object()) info = si->value();
  }
  res["serverInfo"] = std::move(info);
  if (auto ins = r->find("instructions"); ins != r->end() && ins->value().is_string())
    res["instructions"] = ins->value();
  json::object out;
  out["jsonrpc"] = "2.0";
  out["id"] = id_value(client_id);
  out["result"] = std::move(res);
  return json::serialize(out);
}

std::string enveloped_request(std::string_view raw, std::string_view id_json,
                              const client_handshake& h, std::string_view log_level,
                              std::string_view extra_params) {
  auto o = parse_object(raw);
  if (!o) return {};
  json::object params;
  if (const json::object* p = params_of(*o)) params = *p;
  json::object meta = envelope(h, log_level);
  if (auto m = params.find("_meta"); m != params.end() && m->value().is_object())
    for (const auto& kv : m->value().as_object())
      if (!meta.contains(kv.key())) meta[kv.key()] = kv.value();
  params["_meta"] = std::move(meta);
  if (!extra_params.empty())
    if (auto extra = parse_object(extra_params))
      for (const auto& kv : *extra) params[kv.key()] = kv.value();
  (*o)["id"] = id_value(id_json);
  (*o)["params"] = std::move(params);
  return json::serialize(*o);
}

std::optional<input_required> parse_input_required(std::string_view answer) {
  auto o = parse_object(answer);
  if (!o) return std::nullopt;
  const json::object* r = result_of(*o);
  if (r == nullptr || string_at(r, "resultType") != "input_required") return std::nullopt;
  input_required ir;
  if (auto it = r->find("inputRequests"); it != r->end() && it->value().is_object())
    for (const auto& kv : it->value().as_object())
      ir.requests.emplace_back(std::string(kv.key()), json::serialize(kv.value()));
  if (auto it = r->find("requestState"); it != r->end() && !it->value().is_null())
    ir.request_state = json::serialize(it->value());
  return ir;
}

std::string input_method(std::string_view input_request) {
  auto o = parse_object(input_request);
  return o ? string_at(&*o, "method") : std::string();
}

std::string server_request(std::string_view id_json, std::string_view input_request) {
  json::object req;
  req["jsonrpc"] = "2.0";
  req["id"] = id_value(id_json);
  auto o = parse_object(input_request);
  req["method"] = o ? string_at(&*o, "method") : std::string();
  if (o)
    if (auto p = o->find("params"); p != o->end() && p->value().is_object())
      req["params"] = p->value();
  return json::serialize(req);
}

std::string retry_params(const std::vector<std::pair<std::string, std::string>>& responses,
                         std::string_view request_state_json) {
  json::object answers;
  for (const auto& [k, v] : responses) {
    auto r = parse(v);
    answers[k] = r ? std::move(*r) : json::value(json::object());
  }
  json::object extra;
  extra["inputResponses"] = std::move(answers);
  if (!request_state_json.empty())
    if (auto s = parse(request_state_json)) extra["requestState"] = std::move(*s);
  return json::serialize(extra);
}

std::string client_answer(std::string_view answer, std::string_view client_id) {
  auto o = parse_object(answer);
  if (!o) return std::string(answer);
  (*o)["id"] = id_value(client_id);
  if (auto it = o->find("result"); it != o->end() && it->value().is_object())
    it->value().as_object().erase("resultType");
  return json::serialize(*o);
}

listen_filter list_changed_interest(std::string_view discover_answer) {
  listen_filter f;
  auto o = parse_object(discover_answer);
  const json::object* r = o ? result_of(*o) : nullptr;
  if (r == nullptr) return f;
  auto caps = r->find("capabilities");
  if (caps == r->end() || !caps->value().is_object()) return f;
  auto declares = [&](std::string_view feature) {
    auto it = caps->value().as_object().find(key(feature));
    if (it == caps->value().as_object().end() || !it->value().is_object()) return false;
    auto lc = it->value().as_object().find("listChanged");
    return lc != it->value().as_object().end() && lc->value().is_bool() && lc->value().as_bool();
  };
  f.tools = declares("tools");
  f.prompts = declares("prompts");
  f.resources = declares("resources");
  return f;
}

std::string listen_request(std::string_view id_json, const client_handshake& h,
                           const listen_filter& f) {
  json::object filter;
  if (f.tools) filter["toolsListChanged"] = true;
  if (f.prompts) filter["promptsListChanged"] = true;
  if (f.resources) filter["resourcesListChanged"] = true;
  if (!f.uris.empty()) {
    json::array uris;
    for (const auto& u : f.uris) uris.emplace_back(u);
    filter["resourceSubscriptions"] = std::move(uris);
  }
  json::object req;
  req["jsonrpc"] = "2.0";
  req["id"] = id_value(id_json);
  req["method"] = "subscriptions/listen";
  req["params"] = json::object{{"_meta", envelope(h, {})}, {"notifications", std::move(filter)}};
  return json::serialize(req);
}

std::string listen_notification(std::string_view raw) {
  auto o = parse_object(raw);
  if (!o) return {};
  if (string_at(&*o, "method") == "notifications/subscriptions/acknowledged") return {};
  if (auto p = o->find("params"); p != o->end() && p->value().is_object()) {
    json::object& params = p->value().as_object();
    if (auto m = params.find("_meta"); m != params.end() && m->value().is_object()) {
      m->value().as_object().erase(key(meta_subscription_id));
      if (m->value().as_object().empty()) params.erase("_meta");
    }
  }
  return json::serialize(*o);
}

std::string request_uri(std::string_view raw) {
  auto o = parse_object(raw);
  return o ? string_at(params_of(*o), "uri") : std::string();
}

std::string request_level(std::string_view raw) {
  auto o = parse_object(raw);
  return o ? string_at(params_of(*o), "level") : std::string();
}

std::string result_text(std::string_view answer) {
  auto o = parse_object(answer);
  if (!o) return {};
  auto it = o->find("result");
  return it != o->end() ? json::serialize(it->value()) : std::string();
}

std::string error_message(std::string_view answer) {
  auto o = parse_object(answer);
  if (!o) return {};
  auto it = o->find("error");
  return it != o->end() && it->value().is_object() ? string_at(&it->value().as_object(), "message")
                                                   : std::string();
}

std::string empty_result(std::string_view id_json) {
  json::object out;
  out["jsonrpc"] = "2.0";
  out["id"] = id_value(id_json);
  out["result"] = json::object();
  return json::serialize(out);
}

}  // namespace mcpfwd::bridge_l2m
