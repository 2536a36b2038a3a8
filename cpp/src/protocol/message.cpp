#include "protocol/message.hpp"

#include <array>
#include <cmath>

#include <boost/json.hpp>

namespace mcpfwd {
namespace json = boost::json;

const char* to_string(message_kind k) noexcept {
  switch (k) {
    case message_kind::request: return "request";
    case message_kind::notification: return "notification";
    case message_kind::response: return "response";
    case message_kind::error: return "error";
    case message_kind::batch: return "batch";
  }
  return "unknown";
}

bool is_id_value(const json::value& v) noexcept {
  return v.is_string() || v.is_int64() || v.is_uint64() ||
         (v.is_double() && std::isfinite(v.get_double()));
}

namespace {

// Validates one JSON-RPC object. On failure err.id is set when readable.
bool classify_object(const json::value& v, message_info& out, classify_error& err) {
  err.code = rpc_error::invalid_request;
  const json::object* obj = v.if_object();
  if (obj == nullptr) {
    err.message = "Invalid Request: a JSON-RPC message must be an object";
    return false;
  }
  const json::value* id = obj->if_contains("id");
  if (id != nullptr && (is_id_value(*id) || id->is_null())) {
    out.id = id->is_null() ? std::string() : json::serialize(*id);
    err.id = out.id;
  }
  const json::value* ver = obj->if_contains("jsonrpc");
  if (ver == nullptr || !ver->is_string() || ver->get_string() != "2.0") {
    err.message = "Invalid Request: \"jsonrpc\" must be \"2.0\"";
    return false;
  }
  if (id != nullptr && !(is_id_value(*id) || id->is_null())) {
    err.message = "Invalid Request: \"id\" must be a string, a number or null";
    return false;
  }
  const json::value* method = obj->if_contains("method");
  const json::value* result = obj->if_contains("result");
  const json::value* error = obj->if_contains("error");
  if (method != nullptr) {
    if (!method->is_string()) {
      err.message = "Invalid Request: \"method\" must be a string";
      return false;
    }
    if (result != nullptr || error != nullptr) {
      err.message = "Invalid Request: a request cannot carry \"result\" or \"error\"";
      return false;
    }
    if (const json::value* params = obj->if_contains("params");
        params != nullptr && !params->is_object() && !params->is_array()) {
      err.message = "Invalid Request: \"params\" must be an object or an array";
      return false;
    }
    out.method = std::string(method->get_string());
    if (const json::value* params = obj->if_contains("params"); params && params->is_object()) {
      const json::object& po = params->get_object();
      const json::value* tok = nullptr;
      if (id == nullptr) {
        tok = po.if_contains("progressToken");
      } else if (const json::value* meta = po.if_contains("_meta"); meta && meta->is_object()) {
        tok = meta->get_object().if_contains("progressToken");
      }
      if (tok != nullptr && is_id_value(*tok)) out.progress_token = json::serialize(*tok);
      if (id == nullptr && out.method == "notifications/cancelled")
        if (const json::value* rid = po.if_contains("requestId");
            rid != nullptr && is_id_value(*rid))
          out.cancels = json::serialize(*rid);
    }
    if (id == nullptr) {
      out.kind = message_kind::notification;
    } else if (id->is_null()) {
      err.message = "Invalid Request: a request id must not be null";
      return false;
    } else {
      out.kind = message_kind::request;
    }
    return true;
  }
  if (result != nullptr && error != nullptr) {
    err.message = "Invalid Request: a response cannot carry both \"result\" and \"error\"";
    return false;
  }
  if (id == nullptr) {
    err.message = "Invalid Request: no \"method\", and no \"id\" for a response";
    return false;
  }
  if (result != nullptr) {
    if (id->is_null()) {
      err.message = "Invalid Request: a result must answer a non-null id";
      return false;
    }
    out.kind = message_kind::response;
    return true;
  }
  if (error != nullptr) {
    const json::object* e = error->if_object();
    if (e == nullptr || !e->contains("code") || !(*e).at("code").is_int64() ||
        !e->contains("message") || !(*e).at("message").is_string()) {
      err.message =
          "Invalid Request: \"error\" must be an object with integer \"code\" and string "
          "\"message\"";
      return false;
    }
    out.kind = message_kind::error;
    return true;
  }
  err.message = "Invalid Request: no \"method\", \"result\" or \"error\"";
  return false;
}

}  // namespace

bool classify(std::string line, message& out, classify_error& err) {
  // A stack buffer serves most messages without touching the heap; bigger
  // ones spill into the monotonic resource's upstream allocations.
  std::array<unsigned char, 4096> buf;
  json::monotonic_resource mr(buf.data(), buf.size());
  json::parse_options opt;
  opt.max_depth = max_json_depth;
  boost::system::error_code ec;
  json::value v = json::parse(line, ec, &mr, opt);
  if (ec) {
    err.code = rpc_error::parse_error;
    err.id.clear();
    err.message = "Parse error: " + ec.message();
    return false;
  }
  out.batch.clear();
  out.info = message_info{};
  if (const json::array* arr = v.if_array()) {
    if (arr->empty()) {
      err.code = rpc_error::invalid_request;
      err.id.clear();
      err.message = "Invalid Request: empty batch";
      return false;
    }
    out.batch.reserve(arr->size());
    for (std::size_t i = 0; i < arr->size(); ++i) {
      message_info mi;
      classify_error e;
      if (!classify_object((*arr)[i], mi, e)) {
        err = std::move(e);
        err.id.clear();
        err.message += " (batch element " + std::to_string(i) + ")";
        return false;
      }
      out.batch.push_back(std::move(mi));
    }
    out.info.kind = message_kind::batch;
  } else if (!classify_object(v, out.info, err)) {
    return false;
  }
  out.raw = std::move(line);
  return true;
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (Unicode
// table 3-7), 0 when there is none.
std::size_t utf8_sequence(std::string_view s) {
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;  // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;  // nothing over U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || at(1) < lo || at(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i)
    if (at(i) < 0x80 || at(i) > 0xbf) return 0;
  return n;
}

// `text` with each byte that is not part of valid UTF-8 replaced by U+FFFD:
// a JSON string must be UTF-8, and error texts may quote what a peer sent.
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const std::size_t n = utf8_sequence(text);
    if (n == 0) {
      out += "\xef\xbf\xbd";
      text.remove_prefix(1);
    } else {
      out.append(text.substr(0, n));
      text.remove_prefix(n);
    }
  }
  return out;
}

}  // namespace

std::string make_error_response(std::string_view id_json, int code, std::string_view text) {
  std::string s;
  s.reserve(64 + text.size());
  s += R"({"jsonrpc":"2.0","id":)";
  s += id_json.empty() ? std::string_view("null") : id_json;
  s += R"(,"error":{"code":)";
  s += std::to_string(code);
  s += R"(,"message":)";
  const std::string utf8 = valid_utf8(text);
  s += json::serialize(json::string_view(utf8.data(), utf8.size()));
  s += "}}";
  return s;
}

std::string protocol_version_of(std::string_view response_json) {
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = max_json_depth;
  const boost::json::value v = boost::json::parse(response_json, ec, {}, opt);
  if (ec || !v.is_object()) return {};
  const auto* res = v.as_object().if_contains("result");
  if (!res || !res->is_object()) return {};
  const auto* pv = res->as_object().if_contains("protocolVersion");
  if (!pv || !pv->is_string()) return {};
  return std::string(pv->as_string());
}

bool split_batch(const message& batch, std::vector<message>& out) {
  // Each element keeps its own bytes (re-serializing would change what
  // Boost.JSON cannot hold: 1e400 would go out as Infinity, not JSON). The
  // batch is JSON (classify() parsed it), so the commas between top-level
  // elements are those at depth 1 outside strings.
  if (batch.batch.empty()) return false;
  const std::string_view s = batch.raw;
  std::vector<std::string_view> elems;
  auto add = [&](std::size_t from, std::size_t to) {
    std::string_view e = s.substr(from, to - from);
    const auto first = e.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return false;
    e = e.substr(first, e.find_last_not_of(" \t\r\n") - first + 1);
    elems.push_back(e);
    return true;
  };
  int depth = 0;
  bool in_string = false, escaped = false, closed = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size() && !closed; ++i) {
    const char c = s[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (depth++ == 0) {
          if (c != '[') return false;
          start = i + 1;
        }
        break;
      case ']':
      case '}':
        if (--depth == 0) {
          if (!add(start, i)) return false;
          closed = true;
        }
        break;
      case ',':
        if (depth == 1) {
          if (!add(start, i)) return false;
          start = i + 1;
        }
        break;
      default: break;
    }
  }
  if (!closed || elems.size() != batch.batch.size()) return false;
  out.clear();
  out.reserve(elems.size());
  for (std::size_t i = 0; i < elems.size(); ++i) {
    message one;
    one.raw = std::string(elems[i]);
    one.info = batch.batch[i];
    out.push_back(std::move(one));
  }
  return true;
}

std::string join_batch(const std::vector<std::string>& elements) {
  std::string out = "[";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i) out += ',';
    out += elements[i];
  }
  out += ']';
  return out;
}

std::string duplicate_id_text(std::string_view id_json) {
  return "Invalid Request: id " + std::string(id_json) +
         " is already in use by a request in flight";
}

std::string batch_too_large_text(std::size_t size, std::size_t max_batch) {
  return "Invalid Request: a batch of " + std::to_string(size) + " messages is over the limit of " +
         std::to_string(max_batch) + " (--max-batch)";
}

std::string batches_removed_text(std::string_view version) {
  return "Invalid Request: protocol version " + std::string(version) +
         " has no JSON-RPC batches (removed in 2025-06-18)";
}

bool batches_allowed(std::string_view version) noexcept {
  // Dated versions compare as strings.
  return version.empty() || version < "2025-06-18";
}

}  // namespace mcpfwd
