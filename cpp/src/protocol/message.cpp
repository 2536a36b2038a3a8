#include "protocol/message.hpp"

#include <array>
#include <cmath>
#include <optional>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

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

// The JSON type of a value classify() looks at ("absent": the key is not there).
enum class jtype : std::uint8_t { absent, null, other, string, int64, uint64, dbl, object, array };

// What one message's routing needs from its JSON, gathered while it is parsed
// (duplicate keys: the last one counts, as in Boost.JSON's DOM). An id-like
// value (an id, a progress token, a requestId) keeps its text when it may be
// an id: a string or a finite number, serialized as Boost.JSON serializes it.
struct id_like {
  jtype type = jtype::absent;
  bool valid = false;  // a string or a finite number
  std::string text;
  void reset() {
    type = jtype::absent;
    valid = false;
    text.clear();
  }
};
struct facts {
  bool is_object = false;
  id_like id;
  jtype jsonrpc = jtype::absent;
  bool jsonrpc_20 = false;  // the string "2.0"
  jtype method = jtype::absent;
  std::string method_name;
  bool has_result = false;
  jtype error = jtype::absent, error_code = jtype::absent, error_message = jtype::absent;
  jtype params = jtype::absent;
  id_like params_token;  // params.progressToken
  jtype meta = jtype::absent;
  id_like meta_token;  // params._meta.progressToken
  id_like request_id;  // params.requestId
  // As new (a cleared string keeps its capacity: assigning facts{} would not).
  void reset(bool object) {
    is_object = object;
    id.reset();
    jsonrpc = method = error = error_code = error_message = params = meta = jtype::absent;
    jsonrpc_20 = has_result = false;
    method_name.clear();
    params_token.reset();
    meta_token.reset();
    request_id.reset();
  }
};

// Validates one JSON-RPC message from its facts (whose texts it may take).
// On failure err.id is set when readable.
bool decide(facts& f, message_info& out, classify_error& err) {
  err.code = rpc_error::invalid_request;
  // A failure names the id when it could be read.
  auto fail = [&](const char* text) {
    err.id = out.id;
    err.message = text;
    return false;
  };
  if (!f.is_object) return fail("Invalid Request: a JSON-RPC message must be an object");
  const bool has_id = f.id.type != jtype::absent;
  if (has_id && f.id.valid) out.id = std::move(f.id.text);
  if (f.jsonrpc != jtype::string || !f.jsonrpc_20) {
    return fail("Invalid Request: \"jsonrpc\" must be \"2.0\"");
  }
  if (has_id && !(f.id.valid || f.id.type == jtype::null)) {
    return fail("Invalid Request: \"id\" must be a string, a number or null");
  }
  const bool has_error = f.error != jtype::absent;
  if (f.method != jtype::absent) {
    if (f.method != jtype::string) {
      return fail("Invalid Request: \"method\" must be a string");
    }
    if (f.has_result || has_error) {
      return fail("Invalid Request: a request cannot carry \"result\" or \"error\"");
    }
    if (f.params != jtype::absent && f.params != jtype::object && f.params != jtype::array) {
      return fail("Invalid Request: \"params\" must be an object or an array");
    }
    out.method = std::move(f.method_name);
    if (f.params == jtype::object) {
      id_like* tok = nullptr;
      if (!has_id)
        tok = &f.params_token;
      else if (f.meta == jtype::object)
        tok = &f.meta_token;
      if (tok != nullptr && tok->valid) out.progress_token = std::move(tok->text);
      if (!has_id && out.method == "notifications/cancelled" && f.request_id.valid)
        out.cancels = std::move(f.request_id.text);
    }
    if (!has_id) {
      out.kind = message_kind::notification;
    } else if (f.id.type == jtype::null) {
      return fail("Invalid Request: a request id must not be null");
    } else {
      out.kind = message_kind::request;
    }
    return true;
  }
  if (f.has_result && has_error) {
    return fail("Invalid Request: a response cannot carry both \"result\" and \"error\"");
  }
  if (!has_id) {
    return fail("Invalid Request: no \"method\", and no \"id\" for a response");
  }
  if (f.has_result) {
    if (f.id.type == jtype::null) {
      return fail("Invalid Request: a result must answer a non-null id");
    }
    out.kind = message_kind::response;
    return true;
  }
  if (has_error) {
    if (f.error != jtype::object || f.error_code != jtype::int64 ||
        f.error_message != jtype::string) {
      return fail(
          "Invalid Request: \"error\" must be an object with integer \"code\" and string "
          "\"message\"");
    }
    out.kind = message_kind::error;
    return true;
  }
  return fail("Invalid Request: no \"method\", \"result\" or \"error\"");
}

// Boost.JSON's validating parser (the one json::parse uses, so the same
// errors, depth limit and UTF-8 checks), with a handler that keeps only the
// facts routing needs: no DOM is built.
class classify_handler {
  using error_code = boost::system::error_code;
  using string_view = json::string_view;

 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  bool batch = false;                 // the document is an array
  message_info one;                   // the message, when it is not a batch
  std::vector<message_info> infos;    // a batch's valid elements so far
  std::optional<classify_error> bad;  // the first element that is not a valid message

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    const role r = take();
    ctx c = ctx::ignore;
    switch (r) {
      case role::document:
      case role::message:
        f_.reset(true);
        c = ctx::message;
        break;
      case role::error:
        f_.error = jtype::object;
        f_.error_code = f_.error_message = jtype::absent;
        c = ctx::error;
        break;
      case role::params:
        set_params(jtype::object);
        c = ctx::params;
        break;
      case role::meta:
        f_.meta = jtype::object;
        f_.meta_token.reset();
        c = ctx::meta;
        break;
      default: assign(r, jtype::object); break;
    }
    push(c);
    return true;
  }
  bool on_object_end(std::size_t, error_code&) {
    if (pop() == ctx::message) finish();
    return true;
  }
  bool on_array_begin(error_code&) {
    const role r = take();
    if (r == role::document) {
      batch = true;
      push(ctx::batch);
      return true;
    }
    if (r == role::message) {
      f_.reset(false);
      finish();  // not an object
    } else if (r == role::params) {
      set_params(jtype::array);
    } else {
      assign(r, jtype::array);
    }
    push(ctx::ignore);
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    pop();
    return true;
  }
  bool on_key_part(string_view s, std::size_t, error_code&) {
    part_.append(s.data(), s.size());
    return true;
  }
  bool on_key(string_view s, std::size_t, error_code&) {
    const std::string_view k = whole(s);
    const ctx in = top();
    next_ = role::none;
    for (const key_role& kr : key_roles)
      if (kr.in == in && kr.key == k) {
        next_ = kr.r;
        break;
      }
    part_.clear();
    return true;
  }
  bool on_string_part(string_view s, std::size_t, error_code&) {
    if (!in_string_) {
      in_string_ = true;
      string_role_ = take();
    }
    if (wants_text(string_role_)) part_.append(s.data(), s.size());
    return true;
  }
  bool on_string(string_view s, std::size_t, error_code&) {
    const role r = in_string_ ? string_role_ : take();
    in_string_ = false;
    const std::string_view v = wants_text(r) ? whole(s) : std::string_view();
    if (r == role::jsonrpc) {
      f_.jsonrpc = jtype::string;
      f_.jsonrpc_20 = v == "2.0";
    } else if (r == role::method) {
      f_.method = jtype::string;
      f_.method_name.assign(v);
    } else if (id_like* x = id_of(r)) {
      x->type = jtype::string;
      x->valid = true;
      x->text = json::serialize(json::string_view(v.data(), v.size()));
    } else {
      assign(r, jtype::string);
    }
    part_.clear();
    return true;
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t i, string_view, error_code&) {
    number(take(), jtype::int64, [&] { return std::to_string(i); });
    return true;
  }
  bool on_uint64(std::uint64_t u, string_view, error_code&) {
    number(take(), jtype::uint64, [&] { return std::to_string(u); });
    return true;
  }
  bool on_double(double d, string_view, error_code&) {
    const role r = take();
    if (id_like* x = id_of(r)) {
      x->type = jtype::dbl;
      x->valid = std::isfinite(d);
      x->text = x->valid ? json::serialize(json::value(d)) : std::string();
    } else {
      assign(r, jtype::dbl);
    }
    return true;
  }
  bool on_bool(bool, error_code&) {
    assign(take(), jtype::other);
    return true;
  }
  bool on_null(error_code&) {
    assign(take(), jtype::null);
    return true;
  }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

 private:
  // What the value about to begin is, to classify().
  enum class role : std::uint8_t {
    none,      // nothing routing reads
    document,  // the whole line: a message, or a batch of them
    message,   // a batch element
    jsonrpc,
    id,
    method,
    result,
    error,
    params,
    error_code,
    error_message,
    params_token,
    meta,
    request_id,
    meta_token,
  };
  // What an open object or array is.
  enum class ctx : std::uint8_t { ignore, batch, message, error, params, meta };
  // The members routing reads: in an object of this kind, this key's value.
  struct key_role {
    ctx in;
    std::string_view key;
    role r;
  };
  static constexpr key_role key_roles[] = {
      {ctx::message, "jsonrpc", role::jsonrpc},
      {ctx::message, "id", role::id},
      {ctx::message, "method", role::method},
      {ctx::message, "result", role::result},
      {ctx::message, "error", role::error},
      {ctx::message, "params", role::params},
      {ctx::error, "code", role::error_code},
      {ctx::error, "message", role::error_message},
      {ctx::params, "progressToken", role::params_token},
      {ctx::params, "_meta", role::meta},
      {ctx::params, "requestId", role::request_id},
      {ctx::meta, "progressToken", role::meta_token},
  };

  static bool wants_text(role r) {
    return r == role::jsonrpc || r == role::method || r == role::id || r == role::params_token ||
           r == role::meta_token || r == role::request_id;
  }
  id_like* id_of(role r) {
    switch (r) {
      case role::id: return &f_.id;
      case role::params_token: return &f_.params_token;
      case role::meta_token: return &f_.meta_token;
      case role::request_id: return &f_.request_id;
      default: return nullptr;
    }
  }
  // The role of the value that begins now; the next one in a batch is a message.
  role take() {
    const role r = next_;
    next_ = top() == ctx::batch ? role::message : role::none;
    return r;
  }
  ctx top() const { return depth_ == 0 ? ctx::ignore : stack_[depth_ - 1]; }
  void push(ctx c) {
    // The parser stops at max_json_depth, so the stack never overflows.
    if (depth_ < stack_.size()) stack_[depth_] = c;
    ++depth_;
    next_ = c == ctx::batch ? role::message : role::none;
  }
  ctx pop() {
    const ctx c = top();
    --depth_;
    next_ = top() == ctx::batch ? role::message : role::none;
    return c;
  }
  std::string_view whole(string_view s) {
    if (part_.empty()) return std::string_view(s.data(), s.size());
    part_.append(s.data(), s.size());
    return part_;
  }
  void set_params(jtype t) {
    f_.params = t;
    f_.params_token.reset();
    f_.meta = jtype::absent;
    f_.meta_token.reset();
    f_.request_id.reset();
  }
  template <class Text>
  void number(role r, jtype t, Text text) {
    if (id_like* x = id_of(r)) {
      x->type = t;
      x->valid = true;
      x->text = text();
    } else {
      assign(r, t);
    }
  }
  // A value of type t (not a string of interest, not a container entered).
  void assign(role r, jtype t) {
    switch (r) {
      case role::document:
      case role::message:
        f_.reset(false);
        finish();  // not an object
        break;
      case role::jsonrpc: f_.jsonrpc = t; break;
      case role::method: f_.method = t; break;
      case role::result: f_.has_result = true; break;
      case role::error:
        f_.error = t;
        f_.error_code = f_.error_message = jtype::absent;
        break;
      case role::params: set_params(t); break;
      case role::error_code: f_.error_code = t; break;
      case role::error_message: f_.error_message = t; break;
      case role::meta:
        f_.meta = t;
        f_.meta_token.reset();
        break;
      default:
        if (id_like* x = id_of(r)) {
          x->type = t;
          x->valid = false;
          x->text.clear();
        }
        break;
    }
  }
  // A message (or what stands in a message's place) ended.
  void finish() {
    // Decided in place: `one` is still as new (a single message ends once).
    message_info& mi = batch ? infos.emplace_back() : one;
    classify_error e;
    if (decide(f_, mi, e)) return;
    if (batch) infos.pop_back();
    if (bad) return;
    if (batch) {
      e.id.clear();
      e.message += " (batch element " + std::to_string(infos.size()) + ")";
    }
    bad = std::move(e);
  }

  facts f_;
  role next_ = role::document;
  bool in_string_ = false;
  role string_role_ = role::none;
  std::string part_;  // a key or string delivered in parts, so far
  std::array<ctx, max_json_depth + 2> stack_{};
  std::size_t depth_ = 0;
};

}  // namespace

bool classify(std::string line, message& out, classify_error& err) {
  return classify_taking(line, out, err);
}

bool classify_taking(std::string& line, message& out, classify_error& err) {
  json::parse_options opt;
  opt.max_depth = max_json_depth;
  json::basic_parser<classify_handler> p(opt);
  // The whole text at once (more = false: the parser never suspends, which
  // would allocate its state stack); anything after the value is an error,
  // as in json::parse.
  boost::system::error_code ec;
  const std::size_t n = p.write_some(false, line.data(), line.size(), ec);
  if (!ec && n < line.size()) ec = json::error::extra_data;
  if (ec) {
    err.code = rpc_error::parse_error;
    err.id.clear();
    err.message = "Parse error: " + ec.message();
    return false;
  }
  classify_handler& h = p.handler();
  if (h.bad) {
    err = std::move(*h.bad);
    return false;
  }
  if (h.batch && h.infos.empty()) {
    err.code = rpc_error::invalid_request;
    err.id.clear();
    err.message = "Invalid Request: empty batch";
    return false;
  }
  if (h.batch) {
    out.batch = std::move(h.infos);
    out.info = message_info{};
    out.info.kind = message_kind::batch;
  } else {
    out.batch.clear();
    out.info = std::move(h.one);
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
