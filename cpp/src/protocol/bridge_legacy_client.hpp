// Bridging a session-era client to a server that serves only the stateless
// era (2026-07-28): the pure translations, JSON text in, JSON text out (see
// docs/eras.md, "Bridging: legacy client, modern server"). The state and
// the I/O live in upstream/bridge_to_modern.cpp.
//
// The client's initialize is answered from the server's server/discover;
// every later request is sent in the _meta envelope built from the
// initialize parameters, under an id of mcpfwd's own; an input_required
// result becomes server-to-client requests, whose answers go back in a
// retry (inputResponses, requestState byte for byte); subscriptions and
// list-changed interest become one subscriptions/listen stream.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpfwd::bridge_l2m {

// The _meta key of a request's log level (2026-07-28: absent means no log
// lines for that request).
inline constexpr std::string_view meta_log_level = "io.modelcontextprotocol/logLevel";
// The level sent until the client calls logging/setLevel: every level, as a
// session-era server sends before it is told otherwise.
inline constexpr std::string_view default_log_level = "debug";

// What the client's initialize said: the source of every envelope.
struct client_handshake {
  std::string version;       // params.protocolVersion as sent ("" when absent)
  std::string capabilities;  // params.capabilities as JSON text ("{}" when absent)
  std::string client_info;   // params.clientInfo as JSON text ("" when absent)
};

// The handshake of an initialize request (nullopt when it is not JSON).
std::optional<client_handshake> parse_initialize(std::string_view raw);

// Whether the answer to an initialize is -32022 whose data.supported names
// only stateless-era versions (at least one): a modern-only server.
bool refuses_handshake(std::string_view answer);

// The session-era version answered to a client that asked for `requested`:
// that version when mcpfwd knows it, else the latest handshake version.
std::string negotiate_version(std::string_view requested);

// Whether the client declared the capability an input request needs
// (sampling/createMessage: sampling, elicitation/create: elicitation,
// roots/list: roots). Unknown methods: false.
bool client_declares(const client_handshake& h, std::string_view method);

// The server/discover request, in the envelope of `h`.
std::string discover_request(std::string_view id_json, const client_handshake& h);

// The initialize answer for the client (id `client_id`) from the answer to
// server/discover: protocolVersion negotiated, capabilities, serverInfo
// (from _meta "io.modelcontextprotocol/serverInfo"), instructions. An error
// answer is passed on as the initialize's error.
std::string initialize_answer(std::string_view discover_answer, std::string_view client_id,
                              const client_handshake& h);

// A client request in the envelope: id `id_json`, params._meta gaining the
// protocol version, client capabilities, client info and (when not empty)
// the log level (when not empty); the client's own _meta keys (progressToken) are kept.
// `extra_params` (JSON object text, may be empty) is merged into params: a
// retry's inputResponses and requestState. Empty when `raw` is not an object.
std::string enveloped_request(std::string_view raw, std::string_view id_json,
                              const client_handshake& h, std::string_view log_level,
                              std::string_view extra_params = {});

// An input_required result, read.
struct input_required {
  // key -> the input request ({"method", "params"}) as JSON text, in order.
  std::vector<std::pair<std::string, std::string>> requests;
  std::string request_state;  // the requestState as JSON text, "" when absent
};
// nullopt when `answer` is not a result with resultType "input_required".
std::optional<input_required> parse_input_required(std::string_view answer);

// The method of an input request (JSON text of {"method", "params"}).
std::string input_method(std::string_view input_request);

// A server-to-client request for the client: id `id_json`, the input
// request's method and params.
std::string server_request(std::string_view id_json, std::string_view input_request);

// The retry's extra params: {"inputResponses": {key: result, ...}} plus
// "requestState" when `request_state_json` is not empty (copied as it came).
std::string retry_params(const std::vector<std::pair<std::string, std::string>>& responses,
                         std::string_view request_state_json);

// The final answer for the client: the upstream's answer with the client's
// id, and a result's resultType removed (the session era has none).
std::string client_answer(std::string_view answer, std::string_view client_id);

// What a subscriptions/listen stream should ask for.
struct listen_filter {
  bool tools = false, prompts = false, resources = false;  // list_changed
  std::vector<std::string> uris;                           // resources/updated
  bool empty() const noexcept { return !tools && !prompts && !resources && uris.empty(); }
};
// The list-changed interest a session-era client has implicitly: whatever
// listChanged the discover answer's capabilities declare.
listen_filter list_changed_interest(std::string_view discover_answer);
std::string listen_request(std::string_view id_json, const client_handshake& h,
                           const listen_filter& f);

// A notification from the listen stream, for the client: the subscription id
// taken out of _meta. Empty for notifications/subscriptions/acknowledged
// (the session era has no such message).
std::string listen_notification(std::string_view raw);

// The uri of a resources/subscribe or unsubscribe request ("" when absent).
std::string request_uri(std::string_view raw);
// The level of a logging/setLevel request ("" when absent).
std::string request_level(std::string_view raw);

// The result of a response as JSON text ("" when it has none).
std::string result_text(std::string_view answer);
// The error message of an error response ("" when it has none).
std::string error_message(std::string_view answer);

// {"jsonrpc":"2.0","id":<id>,"result":{}}
std::string empty_result(std::string_view id_json);

}  // namespace mcpfwd::bridge_l2m
