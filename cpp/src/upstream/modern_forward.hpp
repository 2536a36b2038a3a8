// The stateless era (2026-07-28) toward a remote Streamable HTTP server:
// each downstream request becomes one upstream POST on a pooled keep-alive
// connection, with the routing headers (MCP-Protocol-Version, Mcp-Method,
// Mcp-Name, Mcp-Param-*) re-emitted, and the upstream's status, content type
// and body (a JSON answer, or an SSE stream relayed event by event) passed
// back. There is no session to keep: the remote server is stateless itself.
// A client that goes away mid-stream closes the upstream connection, which
// is the era's cancellation (SH §Cancellation).
#pragma once
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "base/logger.hpp"
#include "base/net.hpp"
#include "io/http_client.hpp"

namespace mcpfwd {

// True if the downstream connection may carry another request.
net::awaitable<bool> forward_modern(http_client& client, beast::tcp_stream& down,
                                    const beast::http::request<beast::http::string_body>& req,
                                    std::string body, const logger& log);

}  // namespace mcpfwd
