#include "protocol/jsonrpc_peek.hpp"

#include <boost/json.hpp>

#include "protocol/message.hpp"

namespace mcpfwd {

void jsonrpc_peek::feed(std::string_view bytes) {
  for (const char c : bytes) {
    if (done_) return;
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
        if (in_key_) {
          in_key_ = false;
          key_ready_ = true;
          continue;
        }
      }
      if (in_key_) {
        if (key_.size() <= max_key) key_.push_back(c);
      } else if (in_id_) {
        add_id(c);
      }
      continue;
    }
    if (in_id_ && depth_ == 1 && (c == ',' || c == '}')) in_id_ = false;
    switch (c) {
      case '"':
        in_string_ = true;
        if (depth_ == 1 && expect_key_) {
          expect_key_ = false;
          in_key_ = true;
          key_.clear();
        } else if (in_id_) {
          add_id(c);
        }
        break;
      case '{':
      case '[':
        if (depth_ == 0) {
          object_ = c == '{';
          if (!object_) done_ = true;  // a batch: no single id to answer
        }
        if (in_id_) id_bad_ = true;  // an id is never an object or array
        ++depth_;
        if (depth_ == 1) expect_key_ = true;
        break;
      case '}':
      case ']':
        if (--depth_ <= 0) done_ = true;
        break;
      case ',':
        if (depth_ == 1) expect_key_ = true;
        break;
      case ':':
        if (depth_ == 1 && key_ready_) {
          key_ready_ = false;
          if (key_ == "id") {
            in_id_ = true;
            id_bad_ = false;
            id_.clear();
          } else if (key_ == "method") {
            method_ = true;
          } else if (key_ == "result" || key_ == "error") {
            response_ = true;
          }
        }
        break;
      default:
        if (in_id_) add_id(c);
    }
  }
}

void jsonrpc_peek::add_id(char c) {
  if (id_.size() >= max_id)
    id_bad_ = true;
  else
    id_.push_back(c);
}

std::string jsonrpc_peek::id() const {
  if (!object_ || id_bad_ || in_id_ || id_.empty()) return {};
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(id_, ec);
  if (ec || !is_id_value(v)) return {};
  return boost::json::serialize(v);
}

std::string oversize_message(std::size_t limit) {
  return "Invalid Request: message exceeds the maximum size of " + std::to_string(limit) + " bytes";
}

oversize_answer answer_oversize(const jsonrpc_peek& p, std::size_t limit, bool from_server) {
  oversize_answer a;
  const std::string id = p.id();
  if (id.empty()) return a;
  if (p.has_method()) {
    a.to_sender = make_error_response(id, rpc_error::invalid_request, oversize_message(limit));
  } else if (p.is_response()) {
    // (Appended piece by piece: GCC 12 warns falsely on a chain of +.)
    std::string why = "mcpfwd: the ";
    why += from_server ? "server" : "client";
    why += "'s response was over the ";
    why += std::to_string(limit);
    why += "-byte message limit (--max-message-bytes) and was dropped";
    a.to_receiver = make_error_response(id, rpc_error::upstream_error, why);
  }
  return a;
}

oversize_answer answer_unreadable(std::string_view line, std::string_view problem,
                                  bool from_server) {
  jsonrpc_peek p;
  p.feed(line);
  oversize_answer a;
  const std::string id = p.id();
  if (id.empty()) return a;
  if (p.has_method()) {
    a.to_sender = make_error_response(id, rpc_error::invalid_request, problem);
  } else if (p.is_response()) {
    std::string why = "mcpfwd: the ";
    why += from_server ? "server" : "client";
    why += "'s response could not be read (";
    why += problem;
    why += ") and was dropped";
    a.to_receiver = make_error_response(id, rpc_error::upstream_error, why);
  }
  return a;
}

}  // namespace mcpfwd
