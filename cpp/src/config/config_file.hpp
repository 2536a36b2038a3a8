// The configuration file (--config FILE, docs/configuration.md): a JSON
// object holding options of the options table under their own names, the
// default upstream ("command" + "args", or "upstream"), and named servers
// ("servers", or the desktop hosts' "mcpServers" shape), each served at
// /servers/NAME/mcp with its own upstream and the per-server options.
//
// Values go through the options table (set_option), so a value the file
// gives fails exactly as the same value on the command line would. Errors
// throw api_error(invalid_arg) naming the file and the line:column (syntax)
// or the key path (everything else): "FILE: servers.a.max-sessions: ...".
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/server_name.hpp"

namespace mcpfwd {

struct named_server {
  std::string name;  // letters, digits, '.', '_', '-'
  proxy_config cfg;  // everything its sessions read: the top level, then its own keys
};

struct config_layout {
  // The proxy-wide options and the default upstream (served at /mcp; there
  // may be none when named servers are configured).
  proxy_config global;
  std::vector<named_server> servers;  // sorted by name
  // Keys of a desktop host's file (one with "mcpServers") that mcpfwd does
  // not use, such as "autoApprove" or "globalShortcut": ignored, and said.
  std::vector<std::string> ignored;
};

// Reads cli.config_file and merges it under `cli`: an option set explicitly
// in `cli` (the command line) wins over the file's top level; every named
// server starts from the merged top level without its upstream, then takes
// its own keys. Everything is validated (validate()); throws api_error.
config_layout load_config_file(const proxy_config& cli);
// The notice that says which keys of `file` were ignored (layout.ignored).
std::string ignored_keys_note(std::string_view file, const std::vector<std::string>& keys);
// The same from a file's text (`file` names it in messages).
config_layout parse_config_text(const proxy_config& cli, std::string_view file,
                                std::string_view text);

// Whether a named server may set this option (else only the top level may).
bool per_server_option(std::string_view name) noexcept;

}  // namespace mcpfwd
