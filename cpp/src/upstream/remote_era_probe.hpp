// --upstream-era auto toward a remote server (`--upstream URL`): one
// server/discover POST in the stateless era's envelope tells whether the
// remote serves 2026-07-28 (then each modern request is forwarded as it is)
// or only the session era (then the key's instance bridges; docs/eras.md).
#pragma once
#include <optional>

#include "base/net.hpp"
#include "io/http_client.hpp"

namespace mcpfwd {

// true: the remote serves the stateless era; false: it answered, but not as
// a modern server; nullopt: it could not be reached (the request is then
// forwarded, and the client sees the failure as before).
net::awaitable<std::optional<bool>> probe_remote_era(http_client& client);

}  // namespace mcpfwd
