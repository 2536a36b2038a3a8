// Namespace aliases used throughout the core.
#pragma once
#include <boost/asio.hpp>
#include <boost/json.hpp>

namespace mcpfwd {
namespace net = boost::asio;
namespace json = boost::json;
using error_code = boost::system::error_code;
}  // namespace mcpfwd
