// Newline framing for the stdio transport: bytes in, complete lines out.
// Splits on '\n' only and strips one trailing '\r'. A line longer than the
// limit is reported once and then skipped up to its newline without being
// buffered, so memory stays bounded whatever the peer sends.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/jsonrpc_peek.hpp"

namespace mcpfwd {

// A line of blanks only: skipped by either side, never an error.
inline bool blank_line(std::string_view s) noexcept {
  return s.find_first_not_of(" \t\r") == std::string_view::npos;
}

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
    // The bytes of an oversize line as they are skipped, the part seen before
    // on_oversize included, for a sink that wants to learn what the line was
    // without keeping it (jsonrpc_peek). on_oversize_end follows at its
    // newline, or from finish() if the input ends first.
    virtual void on_skipped(std::string_view) {}
    virtual void on_oversize_end() {}
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
  // At end of input: ends an oversize line that had no newline, or reports
  // the unterminated last line as oversize if it is over the limit. Call it
  // before take_partial().
  void finish(sink& out);

 private:
  std::size_t max_line_;
  std::string partial_;
  bool discarding_ = false;
};

// A sink collecting what one feed() produced, so that a reader can act on it
// with co_await after the synchronous framing step. An oversize line becomes
// an item carrying what its message still needs answered (answer_oversize).
// Lean when idle: the peek and the answers exist only for oversize lines.
class collected_lines : public line_framer::sink {
 public:
  collected_lines(std::size_t limit, bool from_server) : limit_(limit), from_server_(from_server) {}
  struct item {
    std::string line;
    std::unique_ptr<oversize_answer> oversize;  // set for an oversize line
  };
  std::vector<item> items;

  void on_line(std::string line) override { items.push_back({std::move(line), nullptr}); }
  void on_oversize(std::size_t) override { peek_ = std::make_unique<jsonrpc_peek>(); }
  void on_skipped(std::string_view b) override { peek_->feed(b); }
  void on_oversize_end() override {
    items.push_back(
        {{}, std::make_unique<oversize_answer>(answer_oversize(*peek_, limit_, from_server_))});
    peek_.reset();
  }

 private:
  std::size_t limit_;
  bool from_server_;
  std::unique_ptr<jsonrpc_peek> peek_;
};

}  // namespace mcpfwd
