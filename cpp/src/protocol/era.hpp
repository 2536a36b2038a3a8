// The two eras of MCP and what tells them apart (see docs/eras.md).
//
// The session era (2024-11-05 to 2025-11-25) has the initialize handshake and
// sessions; the stateless era (2026-07-28) has neither: every request carries
// its protocol version and client capabilities in params._meta, and over
// Streamable HTTP in routing headers too (MCP-Protocol-Version, Mcp-Method,
// Mcp-Name). This file holds the facts of the stateless era that mcpfwd
// checks and rewrites: the version lists, the validation ladder of a request
// (in the order the SDK servers apply it), the HTTP status of a JSON-RPC
// error code, and the id / progress-token / subscription-id rewriting that
// lets the requests of many clients share one upstream.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>

namespace mcpfwd {

inline constexpr std::array<std::string_view, 4> handshake_versions = {"2024-11-05", "2025-03-26",
                                                                       "2025-06-18", "2025-11-25"};
inline constexpr std::array<std::string_view, 1> modern_versions = {"2026-07-28"};
inline constexpr std::string_view latest_modern_version = "2026-07-28";

bool is_handshake_version(std::string_view v) noexcept;
bool is_modern_version(std::string_view v) noexcept;  // one mcpfwd serves

// The era of a Streamable HTTP request from its MCP-Protocol-Version header
// (as the SDK servers decide it): a value that is not a handshake version is
// modern (unknown strings too, so that they get -32022). No header: session era.
bool header_says_modern(std::string_view header_value, bool present) noexcept;

// The _meta keys of the request envelope.
inline constexpr std::string_view meta_protocol_version = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view meta_client_capabilities =
    "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view meta_client_info = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view meta_subscription_id = "io.modelcontextprotocol/subscriptionId";

namespace rpc_error {
inline constexpr int invalid_params = -32602;
inline constexpr int header_mismatch = -32020;
inline constexpr int missing_capability = -32021;
inline constexpr int unsupported_version = -32022;
}  // namespace rpc_error

// The HTTP status that carries a JSON-RPC error of this code on a modern
// Streamable HTTP response (the SDK's table): 400 for parse, invalid request,
// invalid params, header mismatch, missing capability and unsupported
// version; 404 for method not found; 200 otherwise.
unsigned http_status_for_error(int code) noexcept;

// Methods the stateless era removed (answered 404 with -32601).
bool removed_in_modern(std::string_view method) noexcept;

// Decodes a routing header value: verbatim, unless it is "=?base64?...?="
// (then the base64 payload; nullopt when that is malformed).
std::optional<std::string> decode_header_value(std::string_view v);

// The routing headers of one request, as received.
struct routing_headers {
  std::optional<std::string_view> version, method, name;
  std::string_view duplicated;  // the name of a routing header sent twice, or empty
};

// Why a modern request is refused: its JSON-RPC error and HTTP status.
struct ladder_rejection {
  unsigned status = 400;
  int code = 0;
  std::string message;
  std::string data_json;  // the error's data as JSON text, or empty
};

// The validation ladder of one modern request (a JSON object with a method
// and an id), first failure wins: a duplicated routing header (-32020);
// params._meta carrying the protocol version and client capabilities
// (-32602); the routing headers agreeing with the body (-32020); the version
// being a string (-32602) that mcpfwd serves (-32022, data naming the
// supported versions and the requested one); the method not being one the
// era removed (404, -32601).
std::optional<ladder_rejection> check_modern_request(const boost::json::object& request,
                                                     const routing_headers& h);

// The same ladder for a notification (no routing-header checks): a
// protocol version mcpfwd does not serve in its _meta is refused with -32022.
std::optional<ladder_rejection> check_modern_notification(const boost::json::object& note);

// A JSON-RPC error response for a rejection, echoing `id_json` ("" for null).
std::string make_rejection_response(std::string_view id_json, const ladder_rejection& r);

// The -32022 error that tells a client this upstream serves only the
// session era (an auto client then falls back to initialize).
ladder_rejection legacy_only_rejection(std::string_view requested);

// The envelope mcpfwd adds to its own requests (the era probe).
std::string modern_probe_request(std::string_view id_json);

// The verdict of a server/discover probe's answer: true when the upstream
// serves a modern version (a DiscoverResult naming one, or -32022 naming one).
bool probe_says_modern(std::string_view answer_json);

// A request carrying the stateless era's envelope (params._meta with a
// protocol version), other than initialize: the version, else "".
std::string envelope_version(std::string_view raw);
// The Streamable HTTP routing headers of such a request, as header lines
// ("MCP-Protocol-Version: v\r\nMcp-Method: m\r\n" and Mcp-Name when the
// method names something; values that are not plain ASCII base64-encoded).
// For a notification, only MCP-Protocol-Version (`version`) and Mcp-Method.
std::string routing_header_lines(std::string_view raw, std::string_view version);
// "=?base64?...?=" for a value that is not plain visible ASCII, else the value.
std::string encode_header_value(std::string_view v);

// SEP-2243: tool arguments whose schema marks them `x-mcp-header: TOKEN`
// travel in a header `Mcp-Param-TOKEN` too; an intermediary that reads the
// body must check that the two agree.
struct param_header {
  std::string token;              // the header is "Mcp-Param-" + token
  std::vector<std::string> path;  // the chain of `properties` keys to the argument
  std::string type;               // "string", "integer" or "boolean"
};
// The annotated arguments of a tool's inputSchema. A schema with an invalid
// annotation (off a pure `properties` chain, not an RFC 9110 token, not on a
// string/integer/boolean property, or a duplicate) declares none: a
// conforming client drops such a tool.
std::vector<param_header> header_params(const boost::json::value& input_schema);
// Checks one tools/call: `arguments` may be null; `headers` are the request's
// Mcp-Param-* headers as received (name, value), duplicates included.
std::optional<ladder_rejection> check_param_headers(
    const std::vector<param_header>& params, const boost::json::object* arguments,
    const std::vector<std::pair<std::string, std::string>>& headers);

// Rewriting one message (JSON text in, JSON text out; empty when `raw` is
// not a JSON object). Values are JSON text.
// A request: its id, and params._meta.progressToken when it has one and
// `token_json` is not empty.
std::string with_request_id(std::string_view raw, std::string_view id_json,
                            std::string_view token_json);
std::string with_response_id(std::string_view raw, std::string_view id_json);
// notifications/progress: params.progressToken.
std::string with_progress_token(std::string_view raw, std::string_view token_json);
// notifications/cancelled: params.requestId.
std::string with_cancelled_id(std::string_view raw, std::string_view id_json);
// A listen stream's frame: params._meta["io.modelcontextprotocol/subscriptionId"].
std::string subscription_id_of(std::string_view raw);  // "" when absent
std::string with_subscription_id(std::string_view raw, std::string_view id_json);

}  // namespace mcpfwd
