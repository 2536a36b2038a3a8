// The message classifier (protocol/message.hpp): one line in, a kind, id,
// method and progress token out, or a JSON-RPC error. Beyond "no crash", it
// checks the result against the JSON-RPC 2.0 rules applied to an independent
// parse of the same bytes: a line classifies iff it is a valid message, as
// the kind the rules give, and every field routing relies on (the id as JSON
// text, the method, the progress token, the id a cancellation names) is what
// the JSON says. A batch splits (split_batch) into messages that are each
// JSON and classify as its elements. A rejected line gets an error response
// that is valid JSON with the id it could read; so is one whose message
// quotes the line, whatever its bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "protocol/message.hpp"

namespace json = boost::json;
using fuzz::is_id_value;
using fuzz::parse_json;
using mcpfwd::message_info;
using mcpfwd::message_kind;

namespace {

// The kind JSON-RPC 2.0 (as MCP uses it) gives one element; nothing when it
// is not a valid message. Written from the rules, not from classify().
std::optional<message_kind> expected_kind(const json::value& v) {
  const json::object* o = v.if_object();
  if (o == nullptr) return std::nullopt;
  auto get = [o](const char* k) { return o->if_contains(k); };
  const json::value* ver = get("jsonrpc");
  if (ver == nullptr || *ver != "2.0") return std::nullopt;
  const json::value* id = get("id");
  if (id != nullptr && !is_id_value(*id) && !id->is_null()) return std::nullopt;
  const bool has_result = get("result") != nullptr, has_error = get("error") != nullptr;
  if (const json::value* m = get("method")) {
    if (!m->is_string() || has_result || has_error) return std::nullopt;
    const json::value* params = get("params");
    if (params != nullptr && !params->is_object() && !params->is_array()) return std::nullopt;
    if (id == nullptr) return message_kind::notification;
    if (id->is_null()) return std::nullopt;
    return message_kind::request;
  }
  if (id == nullptr || has_result == has_error) return std::nullopt;
  if (has_result) {
    if (id->is_null()) return std::nullopt;
    return message_kind::response;
  }
  const json::object* e = get("error")->if_object();
  if (e == nullptr) return std::nullopt;
  const json::value* code = e->if_contains("code");
  const json::value* text = e->if_contains("message");
  if (code == nullptr || !code->is_int64() || text == nullptr || !text->is_string())
    return std::nullopt;
  return message_kind::error;
}

// The id as JSON text, as routing keys it: "" when absent or null.
std::string id_text(const json::object& o) {
  const json::value* id = o.if_contains("id");
  return id == nullptr || id->is_null() ? std::string() : json::serialize(*id);
}

std::string progress_token(const json::object& o, message_kind k) {
  const json::value* params = o.if_contains("params");
  if (params == nullptr || !params->is_object()) return {};
  const json::object& p = params->get_object();
  const json::value* tok = nullptr;
  if (k == message_kind::notification) {
    tok = p.if_contains("progressToken");
  } else if (const json::value* meta = p.if_contains("_meta"); meta && meta->is_object()) {
    tok = meta->get_object().if_contains("progressToken");
  }
  return tok != nullptr && is_id_value(*tok) ? json::serialize(*tok) : std::string();
}

// notifications/cancelled: params.requestId when it is an id.
std::string cancelled_id(const json::object& o, message_kind k) {
  if (k != message_kind::notification || o.at("method") != "notifications/cancelled") return {};
  const json::value* params = o.if_contains("params");
  if (params == nullptr || !params->is_object()) return {};
  const json::value* rid = params->get_object().if_contains("requestId");
  return rid != nullptr && is_id_value(*rid) ? json::serialize(*rid) : std::string();
}

void check_element(const json::value& v, const message_info& mi) {
  const std::optional<message_kind> want = expected_kind(v);
  FUZZ_CHECK(want.has_value());
  FUZZ_CHECK(mi.kind == *want);
  const json::object& o = v.get_object();
  FUZZ_CHECK(mi.id == id_text(o));
  if (!mi.id.empty()) {  // the id re-parses as the JSON it came from
    json::value id;
    FUZZ_CHECK(parse_json(mi.id, id));
    FUZZ_CHECK(is_id_value(id));
    FUZZ_CHECK(fuzz::same_id(id, o.at("id")));
  }
  switch (mi.kind) {
    case message_kind::request: FUZZ_CHECK(!mi.id.empty()); [[fallthrough]];
    case message_kind::notification:
      FUZZ_CHECK(mi.method == o.at("method").get_string());
      FUZZ_CHECK(mi.progress_token == progress_token(o, mi.kind));
      FUZZ_CHECK(mi.cancels == cancelled_id(o, mi.kind));
      break;
    case message_kind::response: FUZZ_CHECK(!mi.id.empty()); [[fallthrough]];
    case message_kind::error:
      FUZZ_CHECK(mi.method.empty());
      FUZZ_CHECK(mi.progress_token.empty());
      FUZZ_CHECK(mi.cancels.empty());
      break;
    case message_kind::batch: FUZZ_CHECK(false);
  }
  for (const std::string* s : {&mi.progress_token, &mi.cancels}) {
    json::value tok;
    if (!s->empty()) FUZZ_CHECK(parse_json(*s, tok) && is_id_value(tok));
  }
}

// The same message, but for the ulps a double id may move by (same_id).
bool same_info(const message_info& a, const message_info& b) {
  return a.kind == b.kind && fuzz::same_id(a.id, b.id) && a.method == b.method &&
         fuzz::same_id(a.progress_token, b.progress_token) && fuzz::same_id(a.cancels, b.cancels);
}

// split_batch: one message per element, in order, each the element's own
// bytes from the batch (nothing re-serialized), JSON on its own that
// classifies as the element did, with the element's info.
void check_split(const mcpfwd::message& batch, const json::array& arr) {
  std::vector<mcpfwd::message> parts;
  FUZZ_CHECK(mcpfwd::split_batch(batch, parts));
  FUZZ_CHECK(parts.size() == arr.size());
  std::size_t at = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& raw = parts[i].raw;
    FUZZ_CHECK(!raw.empty() && raw.front() != ' ' && raw.back() != ' ');
    const std::size_t pos = batch.raw.find(raw, at);
    FUZZ_CHECK(pos != std::string::npos);
    at = pos + raw.size();
    FUZZ_CHECK(same_info(parts[i].info, batch.batch[i]));
    json::value v;
    FUZZ_CHECK(parse_json(parts[i].raw, v));
    mcpfwd::message one;
    mcpfwd::classify_error err;
    FUZZ_CHECK(mcpfwd::classify(parts[i].raw, one, err));
    FUZZ_CHECK(one.batch.empty() && same_info(one.info, batch.batch[i]));
  }
}

// Whether `s` is UTF-8, as Boost.JSON's parser tells it: `s` as a JSON
// string, escaping only what JSON requires and leaving other bytes raw.
bool is_utf8(std::string_view s) {
  std::string text = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      text += '\\';
      text += c;
    } else if (u < 0x20) {
      static const char hex[] = "0123456789abcdef";
      text += "\\u00";
      text += hex[u >> 4];
      text += hex[u & 15];
    } else {
      text += c;
    }
  }
  text += '"';
  json::value v;
  return parse_json(text, v) && v.is_string() && v.get_string() == s;
}

// An error message quoting any bytes is still a JSON-RPC error, the text
// kept as it is when it is UTF-8.
void check_any_text(const std::string& text) {
  const std::string e = mcpfwd::make_error_response("1", mcpfwd::rpc_error::upstream_error, text);
  fuzz::check_error_response(e, "1", mcpfwd::rpc_error::upstream_error);
  json::value v;
  FUZZ_CHECK(parse_json(e, v));
  const json::string& m = v.at("error").at("message").get_string();
  FUZZ_CHECK((m == text) == is_utf8(text));
  FUZZ_CHECK(m.size() >= text.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  mcpfwd::message msg;
  mcpfwd::classify_error err;
  const bool ok = mcpfwd::classify(line, msg, err);

  // The same verdict a second time, into a message that held another one.
  mcpfwd::message again;
  mcpfwd::classify_error err2;
  mcpfwd::classify(R"({"jsonrpc":"2.0","id":[1],"method":"x"})", again, err2);
  mcpfwd::classify(R"([{"jsonrpc":"2.0","id":1,"result":{}}])", again, err2);
  FUZZ_CHECK(mcpfwd::classify(line, again, err2) == ok);
  check_any_text(line);

  json::value v;
  const bool parsed = fuzz::parse_json(line, v, 64);
  if (ok) {
    FUZZ_CHECK(parsed);
    FUZZ_CHECK(msg.raw == line);
    FUZZ_CHECK(again.raw == line && again.info.kind == msg.info.kind &&
               again.info.id == msg.info.id);
    if (msg.info.kind == message_kind::batch) {
      const json::array* arr = v.if_array();
      FUZZ_CHECK(arr != nullptr && !arr->empty());
      FUZZ_CHECK(msg.batch.size() == arr->size());
      FUZZ_CHECK(again.batch.size() == arr->size());
      for (std::size_t i = 0; i < arr->size(); ++i) check_element((*arr)[i], msg.batch[i]);
      FUZZ_CHECK(msg.info.id.empty() && msg.info.method.empty());
      check_split(msg, *arr);
    } else {
      FUZZ_CHECK(msg.batch.empty() && again.batch.empty());
      check_element(v, msg.info);
      std::vector<mcpfwd::message> parts;
      FUZZ_CHECK(!mcpfwd::split_batch(msg, parts));  // not a batch
    }
    return 0;
  }

  // Rejected: a parse error exactly when the bytes are not JSON (nested up
  // to the limit), else an invalid request, which is exactly when the rules
  // reject the message or a batch element.
  FUZZ_CHECK(err.code == err2.code && err.id == err2.id && err.message == err2.message);
  FUZZ_CHECK(!err.message.empty());
  if (!parsed) {
    FUZZ_CHECK(err.code == mcpfwd::rpc_error::parse_error);
    FUZZ_CHECK(err.id.empty());
  } else {
    FUZZ_CHECK(err.code == mcpfwd::rpc_error::invalid_request);
    if (const json::array* arr = v.if_array()) {
      bool valid = !arr->empty();
      for (const json::value& e : *arr) valid = valid && expected_kind(e).has_value();
      FUZZ_CHECK(!valid);
      FUZZ_CHECK(err.id.empty());  // a batch is answered as a whole
    } else {
      FUZZ_CHECK(!expected_kind(v).has_value());
      // The id is echoed when it could be read (a string or a number).
      const json::object* o = v.if_object();
      const json::value* id = o ? o->if_contains("id") : nullptr;
      FUZZ_CHECK(err.id == (id != nullptr && fuzz::is_id_value(*id) ? json::serialize(*id) : ""));
    }
  }
  fuzz::check_error_response(mcpfwd::make_error_response(err.id, err.code, err.message), err.id,
                             err.code);
  return 0;
}
