// Error codes of the core. They map 1:1 onto the C ABI's mcpfwd_status.
#pragma once
#include <stdexcept>
#include <string>

namespace mcpfwd {

enum class errc : int {
  ok = 0,
  invalid_arg = -1,
  nomem = -2,
  state = -3,
  io = -4,
  timeout = -5,
  callback = -6,
  not_found = -7,
  internal = -99
};

// Thrown by the core's API for failures a caller must branch on; caught at
// the C boundary and turned into a status plus mcpfwd_last_error() text.
class api_error : public std::runtime_error {
 public:
  api_error(errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  errc code() const noexcept { return code_; }

 private:
  errc code_;
};

}  // namespace mcpfwd
