// Newline framing for the stdio transport: bytes in, complete lines out.
// Splits on '\n' only and strips one trailing '\r'. A line longer than the
// limit is reported once and then skipped up to its newline without being
// buffered, so memory stays bounded whatever the peer sends.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace mcpfwd {

class line_framer {
 public:
  explicit line_framer(std::size_t max_line) : max_line_(max_line) {}

  // Events produced by feed(), in input order.
  struct sink {
    virtual ~sink() = default;
    virtual void on_line(std::string line) = 0;
    // A line exceeded the limit; `prefix_bytes` is how much was seen when it
    // was cut off. Called once per oversize line, as soon as it is detected.
    virtual void on_oversize(std::size_t prefix_bytes) = 0;
  };

  // Consume a chunk of input. Complete lines are handed to `out`; a partial
  // line is kept (up to the limit) until more input arrives.
  void feed(std::string_view data, sink& out);

  // Bytes of the incomplete line currently held.
  std::size_t pending() const noexcept { return partial_.size(); }
  // True while the rest of an oversize line is being skipped.
  bool discarding() const noexcept { return discarding_; }
  // At end of input: the unterminated last line, if any (not yet delivered).
  std::string take_partial() { return std::exchange(partial_, {}); }

 private:
  std::size_t max_line_;
  std::string partial_;
  bool discarding_ = false;
};

}  // namespace mcpfwd
