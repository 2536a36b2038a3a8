// What a named server's name may be (config file): one definition, used by
// the config file's parser and by the router's /servers/NAME/ paths.
#pragma once

#include <algorithm>
#include <string_view>

namespace mcpfwd {

// Whether NAME can be a server name: a URL path segment as is (letters,
// digits, '.', '_', '-'; 1 to 128; not "." or "..").
inline bool valid_server_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace mcpfwd
