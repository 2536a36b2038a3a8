// The options table: every option of mcpfwd, defined once. The CLI's parsing
// and --help, the C ABI's generic setter and option iterator (and through
// them every binding), the validation and the option list of the docs all
// derive from it. Defaults are not written here: they are proxy_config's
// member initializers, shown through each option's `get`.
//
// To add an option: a field in proxy_config (with its default), one row in
// options.cpp. Nothing else.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace mcpfwd {

// Values match the C ABI's mcpfwd_option_type.
enum class option_type : int {
  flag = 1,         // "1"/"0", "true"/"false", "on"/"off", "yes"/"no"
  integer = 2,      // decimal, within [min, max]
  duration_ms = 3,  // milliseconds, within [min, max]
  bytes = 4,        // a byte count, within [min, max]
  text = 5,         // a string
  list = 6,         // a string; each set appends (repeatable)
  choice = 7,       // one of `choices` ("a|b|c")
  address = 8,      // HOST:PORT ([v6]:PORT for IPv6)
};

// Where an option applies (the C ABI's MCPFWD_MODE_* bits). An option must
// apply to both the downstream and the upstream of the chosen configuration.
enum option_mode : unsigned {
  mode_stdio = 1,    // downstream: one client on stdio
  mode_http = 2,     // downstream: Streamable HTTP and HTTP+SSE listener
  mode_command = 4,  // upstream: a spawned server command
  mode_url = 8,      // upstream: a remote server
  mode_any_downstream = mode_stdio | mode_http,
  mode_any_upstream = mode_command | mode_url,
  mode_all = mode_any_downstream | mode_any_upstream,
};

struct option_spec {
  std::string_view name;  // kebab-case: "max-sessions"
  option_type type;
  std::string_view metavar;  // "N", "MS", "HOST:PORT", ...
  std::uint64_t min, max;    // numeric types
  unsigned modes;
  std::string_view cli;      // the CLI flag ("--max-sessions"), or "" when not on the CLI
  std::string_view choices;  // choice: "a|b|c"
  std::string_view help;     // one line
  // Stores an already parsed and checked value (numbers as decimal text).
  void (*set)(proxy_config&, std::string_view value);
  // The current value as text (the default, on a default proxy_config).
  std::string (*get)(const proxy_config&);
  // A text value's own form, checked after its type's: null when it is
  // fine, else what is wrong ("needs NAME=VALUE"). Null: any text.
  const char* (*check)(std::string_view value) = nullptr;
};

std::span<const option_spec> options() noexcept;
// Null when there is no such option.
const option_spec* find_option(std::string_view name) noexcept;

// Parses `value` by the option's type, checks it, stores it and records the
// option as set. Throws api_error(invalid_arg) naming the option and the
// problem.
void set_option(proxy_config& cfg, const option_spec& opt, std::string_view value);
void set_option(proxy_config& cfg, std::string_view name, std::string_view value);
// A text option back to its default, as if it had never been set.
void reset_option(proxy_config& cfg, std::string_view name);

// The whole configuration: a downstream and an upstream are chosen, and
// every option that was set applies to them. Throws api_error(invalid_arg).
// `upstream_optional`: named servers are configured (config file), so the
// default upstream may be absent; options of one upstream kind then need it.
void validate(const proxy_config& cfg, bool upstream_optional = false);

}  // namespace mcpfwd
