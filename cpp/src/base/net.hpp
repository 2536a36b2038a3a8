// Namespace aliases used throughout the core.
#pragma once
#include <boost/asio.hpp>
#include <boost/json.hpp>

namespace mcpfwd {
namespace net = boost::asio;
namespace json = boost::json;
using error_code = boost::system::error_code;
// The executor of one io_context, and a session's strand on it: concrete
// types, so that copying one into an any_io_executor (every timer, socket
// and coroutine of the session holds one) fits its small-object buffer
// instead of allocating, and no query on the hot path goes through two
// layers of type erasure.
using io_executor = net::io_context::executor_type;
using session_strand = net::strand<io_executor>;
}  // namespace mcpfwd
