// Completion handlers for detached coroutines. None swallows an exception:
// it is logged with what the coroutine was doing (and for whom), then
// `on_error` closes what the coroutine owned (a session, a connection).
#pragma once
#include <exception>
#include <string>
#include <utility>

#include "base/logger.hpp"

namespace mcpfwd {

template <class OnError>
auto log_failure(const logger& log, std::string what, OnError on_error) {
  return
      [&log, what = std::move(what), on_error = std::move(on_error)](std::exception_ptr e) mutable {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log.error("internal error in " + what + ": " + ex.what());
        } catch (...) {
          log.error("internal error in " + what + ": unknown exception");
        }
        on_error();
      };
}

// For a coroutine whose failure leaves nothing to close but the log line.
inline auto log_failure(const logger& log, std::string what) {
  return log_failure(log, std::move(what), [] {});
}

}  // namespace mcpfwd
