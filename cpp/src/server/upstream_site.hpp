// What the listener serves: the default upstream (at /mcp) and the named
// servers of the config file (at /servers/NAME/mcp). A table is immutable
// once built; a reload (SIGHUP) builds a new one and swaps it in. A new
// session takes the current table's site, and keeps that site (its config,
// its upstream factory, its connection pool) alive until it is destroyed:
// sessions opened before a reload go on with the configuration they began with.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "io/http_client.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

struct upstream_site {
  std::string name;                     // "": the default upstream (/mcp)
  proxy_config cfg;                     // what its sessions read
  upstream_factory make;                // spawns or connects one upstream
  std::shared_ptr<http_client> remote;  // a remote server's pool; null for a command
};

struct site_table {
  std::shared_ptr<const upstream_site> fallback;  // null: /mcp serves nothing
  std::map<std::string, std::shared_ptr<const upstream_site>, std::less<>> named;

  // The site a request path names ("" : the default); null when none.
  std::shared_ptr<const upstream_site> find(std::string_view name) const {
    if (name.empty()) return fallback;
    auto it = named.find(name);
    return it == named.end() ? nullptr : it->second;
  }
};

}  // namespace mcpfwd
