// Bridging a stateless-era (2026-07-28) client to an upstream that serves
// only the session era (see docs/eras.md, "Bridging: modern client, legacy
// server"). Pure translations, no I/O: the session glue is in
// session/bridge_legacy_upstream.cpp.
//
// Every function takes and returns JSON text; an input that is not what it
// expects gives an empty string (or nullopt) and the caller refuses it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

namespace mcpfwd {

// The handshake version a bridge asks for (the newest); the server may
// answer an older one, which the bridge accepts.
inline constexpr std::string_view bridge_handshake_version = "2025-11-25";
inline constexpr std::string_view meta_log_level = "io.modelcontextprotocol/logLevel";

// What the legacy server said in its initialize result.
struct legacy_server {
  std::string protocol_version;
  std::string capabilities_json = "{}";  // the server's capabilities object
  std::string server_info_json;          // "" when absent
  std::string instructions_json;         // a JSON string, "" when absent
  bool logging = false, subscribe = false;
  bool tools_changed = false, prompts_changed = false, resources_changed = false;
};

// The initialize request built from a modern request's _meta: its client
// capabilities and client info (mcpfwd's own when absent), the handshake
// version above. `id_json` is the request's id.
std::string bridge_initialize_request(std::string_view id_json, std::string_view modern_request);
// The initialize answer: nullopt when it is an error or not an
// InitializeResult.
std::optional<legacy_server> parse_initialize_result(std::string_view response);

// The server/discover result a bridge answers (ttlMs 0, cacheScope
// private, the task capability the 2026 schema no longer has removed).
std::string bridge_discover_response(std::string_view id_json, const legacy_server& s);

// A modern request made legacy: the envelope's _meta keys (protocol version,
// client capabilities, client info, log level) removed, progressToken and
// any other _meta key kept (an emptied _meta goes); inputResponses and
// requestState removed from params.
std::string bridge_request_to_legacy(std::string_view raw);

// The envelope fields of a modern request the bridge reads.
struct modern_envelope {
  std::string client_capabilities_json = "{}";
  std::string log_level;      // "" when absent
  std::string request_state;  // params.requestState, "" when absent
  bool has_request_state = false;
  std::string input_responses_json;  // params.inputResponses, "" when absent
  std::string name;                  // params.name (tools/call, prompts/get) or params.uri
};
std::optional<modern_envelope> read_envelope(std::string_view raw);

// A legacy answer made modern: a result gets resultType "complete" (unless
// it has one) and, for list results and resources/read, ttlMs 0 and
// cacheScope "private" (unless present); tools lose `execution` (tasks are
// not in the 2026 core). An error passes unchanged.
std::string bridge_response_to_modern(std::string_view raw, std::string_view method);

// MRTR methods (those whose result may be input_required).
bool mrtr_method(std::string_view method) noexcept;

// The client capability a server→client request needs ("sampling",
// "elicitation", "roots"), or "" for a method the bridge does not relay.
std::string_view capability_for(std::string_view server_method) noexcept;
// Whether the client capabilities object (JSON text) declares `cap`.
bool declares_capability(std::string_view capabilities_json, std::string_view cap);

// One server→client request waiting for the modern client's answer.
struct input_request {
  std::string key;          // the inputRequests key
  std::string method;       // e.g. "sampling/createMessage"
  std::string params_json;  // "" when the request has none
};
// {"jsonrpc":"2.0","id":ID,"result":{"resultType":"input_required",
//  "inputRequests":{KEY:{"method":..,"params":..}},"requestState":STATE}}
std::string input_required_response(std::string_view id_json,
                                    const std::vector<input_request>& pending,
                                    std::string_view request_state);
// The inputResponses value for `key` (JSON text), or "" when absent or not
// an object.
std::string input_response_for(std::string_view input_responses_json, std::string_view key);
// {"jsonrpc":"2.0","id":ID,"result":RESULT}
std::string result_response(std::string_view id_json, std::string_view result_json);

// requestState tokens: "mcpfwd-b1." + 32 hex digits (random, from the
// caller) + "." + a generation number; only the bridge that issued one
// knows what it means.
std::string make_request_state(std::string_view random_hex, std::uint64_t generation);
bool looks_like_request_state(std::string_view s) noexcept;

// subscriptions/listen: the filter a legacy server can honour.
struct listen_filter {
  bool tools = false, prompts = false, resources = false;
  std::vector<std::string> uris;  // resourceSubscriptions
};
// The filter the client asked for, cut to what the server can do: list
// changes it announces (`listChanged`), URIs when it has `subscribe`.
std::optional<listen_filter> honoured_filter(std::string_view listen_request,
                                             const legacy_server& s);
// notifications/subscriptions/acknowledged naming `f`, with the
// subscription id (the listen request's id).
std::string listen_acknowledgement(const listen_filter& f, std::string_view id_json);
// Whether a legacy notification goes to a listen stream with this filter.
bool listen_wants(const listen_filter& f, std::string_view notification);
// A notification with params._meta[subscriptionId] set (params and _meta
// made when absent).
std::string with_subscription(std::string_view raw, std::string_view id_json);

}  // namespace mcpfwd
