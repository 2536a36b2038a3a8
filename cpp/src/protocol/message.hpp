// One JSON-RPC 2.0 message: the raw bytes as received plus what routing
// needs. The bytes are what gets forwarded; the parse happens once, here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace boost::json {
class value;
}

namespace mcpfwd {

enum class message_kind : std::uint8_t {
  request,       // method + id
  notification,  // method, no id
  response,      // id + result
  error,         // id (possibly null) + error
  batch          // a JSON array of the above (2025-03-26)
};

const char* to_string(message_kind k) noexcept;

// What routing needs to know about one message (or one element of a batch).
struct message_info {
  message_kind kind = message_kind::notification;
  // The id exactly as JSON text ("7", "\"abc\""), empty when there is none.
  // Used as the key of the in-flight table and echoed into error responses.
  std::string id;
  std::string method;  // requests and notifications
  // Requests: params._meta.progressToken; notifications/progress:
  // params.progressToken. As JSON text, empty when absent.
  std::string progress_token;
  // notifications/cancelled: params.requestId as JSON text, empty when absent.
  std::string cancels;
};

struct message {
  std::string raw;  // the bytes as received, without the line terminator
  message_info info;
  std::vector<message_info> batch;  // elements when info.kind == batch
};

// Why a line is not a valid message. The codes are JSON-RPC's.
struct classify_error {
  int code = 0;         // -32700 parse error, -32600 invalid request
  std::string id;       // the id as JSON text when it could be read, else ""
  std::string message;  // human-readable detail
};

// The one nesting limit of every parse of a JSON-RPC message in mcpfwd
// (classification, routing, splitting a batch): deeper input is a parse
// error everywhere alike.
inline constexpr unsigned max_json_depth = 64;

// Classify one line. On success fills `out` (taking the bytes of `line`)
// and returns true; otherwise fills `err` and returns false. Strings must be
// valid UTF-8 (invalid UTF-8 is a parse error).
bool classify(std::string line, message& out, classify_error& err);
// The same, without a copy of a line the caller keeps for a failure: on
// success out.raw takes the bytes of `line`; on failure `line` is untouched.
bool classify_taking(std::string& line, message& out, classify_error& err);

// Whether `v` may be an id or a progress token: a string or a finite number.
// (Boost.JSON reads 1e400 as infinity and 0e400 as NaN, which serialize as
// Infinity and NaN: not JSON, so not ids.)
bool is_id_value(const boost::json::value& v) noexcept;

// The result.protocolVersion of an initialize response ("" when absent).
std::string protocol_version_of(std::string_view response_json);

// The elements of a classified batch as messages of their own (each its own
// bytes from the batch, infos taken from the batch). False if it is not one.
bool split_batch(const message& batch, std::vector<message>& out);

// Whether a session that negotiated `version` may send JSON-RPC batches:
// 2025-03-26 added them, 2025-06-18 removed them ("" = not negotiated yet).
bool batches_allowed(std::string_view version) noexcept;

// A batch reply: the elements (serialized messages) as one JSON array.
std::string join_batch(const std::vector<std::string>& elements);

// The texts of the errors a client's batch or request id can get, whichever
// session (or the router) refuses it.
std::string duplicate_id_text(std::string_view id_json);
std::string batch_too_large_text(std::size_t size, std::size_t max_batch);
std::string batches_removed_text(std::string_view version);
inline constexpr std::string_view batch_split_text = "Parse error: cannot split the batch";

// Serialize a JSON-RPC error response. `id_json` is the id as JSON text, or
// empty for null; `text` may quote a peer's bytes: what is not UTF-8 in it
// becomes U+FFFD. The result has no trailing newline.
std::string make_error_response(std::string_view id_json, int code, std::string_view text);

namespace rpc_error {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int internal_error = -32603;
inline constexpr int upstream_error = -32000;  // server error range: upstream failed
}  // namespace rpc_error

}  // namespace mcpfwd
