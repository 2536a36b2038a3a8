// Answer checks for loadgen: real JSON parsing, so a wrong or foreign answer
// is never counted as a success.
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "loadgen.hpp"

namespace json = boost::json;

namespace loadgen {

namespace {

const json::value* member(const json::value* v, std::string_view key) {
  if (v == nullptr || !v->is_object()) return nullptr;
  return v->get_object().if_contains(key);
}

}  // namespace

verdict check_echo(std::string_view answer, std::int64_t id, std::string_view token,
                   std::string& why) {
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  json::error_code ec;
  const json::value v = json::parse(answer, ec, &mr);
  if (ec) {
    why = "answer is not JSON: " + ec.message();
    return verdict::error;
  }
  const json::value* ver = member(&v, "jsonrpc");
  if (ver == nullptr || !ver->is_string() || ver->get_string() != "2.0") {
    why = "answer is not JSON-RPC 2.0";
    return verdict::error;
  }
  const json::value* got_id = member(&v, "id");
  const bool id_ok =
      got_id != nullptr && got_id->is_number() && got_id->to_number<std::int64_t>(ec) == id && !ec;
  if (const json::value* e = member(&v, "error"); e != nullptr) {
    const json::value* m = member(e, "message");
    why = "JSON-RPC error: " + (m && m->is_string() ? std::string(m->get_string()) : "?");
    return id_ok ? verdict::error : verdict::mismatch;
  }
  if (!id_ok) {
    why = "answer carries another id";
    return verdict::mismatch;
  }
  const json::value* content = member(member(&v, "result"), "content");
  if (content == nullptr || !content->is_array() || content->get_array().empty()) {
    why = "result has no content";
    return verdict::error;
  }
  const json::value& first = content->get_array().front();
  const json::value* text = member(&first, "text");
  if (text == nullptr || !text->is_string()) {
    why = "first content item has no text";
    return verdict::error;
  }
  if (text->get_string() != token) {
    why = "answer carries another token";
    return verdict::mismatch;
  }
  return verdict::ok;
}

bool check_initialize(std::string_view answer, std::string& why) {
  json::error_code ec;
  const json::value v = json::parse(answer, ec);
  if (ec) {
    why = "initialize answer is not JSON: " + ec.message();
    return false;
  }
  if (const json::value* e = member(&v, "error"); e != nullptr) {
    const json::value* m = member(e, "message");
    why = "initialize failed: " + (m && m->is_string() ? std::string(m->get_string()) : "?");
    return false;
  }
  const json::value* pv = member(member(&v, "result"), "protocolVersion");
  if (pv == nullptr || !pv->is_string()) {
    why = "initialize result has no protocolVersion";
    return false;
  }
  return true;
}

bool is_response(std::string_view line) {
  json::error_code ec;
  const json::value v = json::parse(line, ec);
  return ec || member(&v, "method") == nullptr;
}

std::string last_sse_data(std::string_view body) {
  std::string data, last;
  bool have_data = false;
  auto end_event = [&] {
    if (have_data) last = std::move(data);
    data.clear();
    have_data = false;
  };
  while (!body.empty()) {
    const auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      end_event();
      continue;
    }
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (line.starts_with(' ')) line.remove_prefix(1);
      if (have_data) data += '\n';
      data.append(line);
      have_data = true;
    }
  }
  end_event();
  return last;
}

}  // namespace loadgen
