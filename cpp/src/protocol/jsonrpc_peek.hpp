// What a message over the size limit was, learnt without keeping it.
//
// A message over --max-message-bytes is skipped as it streams past, so memory
// stays bounded. jsonrpc_peek reads those bytes once, a piece at a time, and
// notes only the top-level members an answer needs: the "id" (a string or a
// number, as JSON text) and whether the object has "method" (a request or a
// notification) or "result"/"error" (a response). Members are recognised at
// the top level only, so an "id" inside params or result is not mistaken for
// the message's. Work is linear in the bytes and state is a few dozen bytes.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace mcpfwd {

class jsonrpc_peek {
 public:
  void feed(std::string_view bytes);
  void reset() { *this = jsonrpc_peek{}; }

  // The top-level "id" as JSON text ("7", "\"a\""): "" unless the message
  // was an object whose "id" is a string or number of at most 256 bytes.
  std::string id() const;
  bool has_method() const noexcept { return method_; }
  bool is_response() const noexcept { return response_; }

 private:
  static constexpr std::size_t max_id = 256;
  static constexpr std::size_t max_key = 8;  // longer keys are none of ours

  void add_id(char c);

  int depth_ = 0;
  bool object_ = false;  // the top level is an object
  bool done_ = false;    // its closing brace was seen
  bool in_string_ = false, escape_ = false;
  bool expect_key_ = false;  // at depth 1, the next string is a member name
  bool in_key_ = false;      // reading a member name
  bool key_ready_ = false;   // a member name was read, its ':' not yet
  bool in_id_ = false;       // reading the value of "id"
  bool id_bad_ = false;
  bool method_ = false, response_ = false;
  std::string key_, id_;
};

// The answers a dropped message over the size limit still needs, so that
// nobody waits for ever: a request is refused to its sender (-32600, with its
// id); a response is replaced, towards whoever waits for it, by an error
// with the same id (-32000) saying why. A notification, a batch or a message
// without a usable id needs none: both strings are then empty.
struct oversize_answer {
  std::string to_sender;
  std::string to_receiver;
};
oversize_answer answer_oversize(const jsonrpc_peek& p, std::size_t limit, bool from_server);

// The -32600 message for a message over `limit` bytes.
std::string oversize_message(std::size_t limit);

// The same answers for a message that arrived whole but cannot be used
// (classify() refused it: nested too deep, invalid UTF-8, ...): whoever waits
// for it must not wait for ever. `problem` is classify()'s message.
oversize_answer answer_unreadable(std::string_view line, std::string_view problem,
                                  bool from_server);

}  // namespace mcpfwd
