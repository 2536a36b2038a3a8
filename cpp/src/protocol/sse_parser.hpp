// Incremental parser of a text/event-stream body (WHATWG HTML §9.2.6), as
// an MCP client reads it: events with optional id, event type and data;
// `retry` updates the reconnection delay; comments are skipped. Lines end in
// CRLF, LF or CR, possibly split across reads.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/jsonrpc_peek.hpp"

namespace mcpfwd {

struct sse_event {
  std::string id;         // the last event id in effect when it was dispatched
  std::string type;       // "event" field; empty means "message"
  std::string data;       // data lines joined with '\n'
  bool oversize = false;  // data exceeded the limit: dropped, data empty
  // Set for an oversize event: the answers the JSON-RPC message in its data
  // still needs (jsonrpc_peek reads the data as it is skipped).
  std::unique_ptr<oversize_answer> answer;
};

class sse_parser {
 public:
  explicit sse_parser(std::size_t max_event_bytes) : max_(max_event_bytes) {}

  // Parses `bytes`, appending each complete event to `out`. Events with no
  // data field are not dispatched (per the standard) but an `id` in them
  // still moves last_event_id().
  void feed(std::string_view bytes, std::vector<sse_event>& out);

  const std::string& last_event_id() const noexcept { return last_id_; }
  std::optional<unsigned> retry_ms() const noexcept { return retry_; }

 private:
  void line(std::string_view l, std::vector<sse_event>& out);
  // A line longer than any event may be: `head` is its start, at least the
  // limit in bytes, so its field name is known.
  void long_line(std::string_view head);
  void start_oversize();

  std::size_t max_;
  std::string line_;      // the current, unterminated line
  bool skip_lf_ = false;  // the previous chunk ended in CR
  bool line_over_ = false;
  bool over_data_ = false;  // that long line is a data line: its bytes go to peek_
  std::string data_, type_, last_id_;
  bool has_data_ = false, oversize_ = false;
  std::optional<unsigned> retry_;
  std::unique_ptr<jsonrpc_peek> peek_;  // the data of the current oversize event
};

}  // namespace mcpfwd
