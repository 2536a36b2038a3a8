#include "base/logger.hpp"

#include <unistd.h>

#include <cerrno>

namespace mcpfwd {

const char* to_string(log_level l) noexcept {
  switch (l) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "?";
}

bool parse_log_level(std::string_view s, log_level& out) noexcept {
  for (auto l : {log_level::trace, log_level::debug, log_level::info, log_level::warn,
                 log_level::error, log_level::off}) {
    if (s == to_string(l)) {
      out = l;
      return true;
    }
  }
  if (s == "warning") {
    out = log_level::warn;
    return true;
  }
  return false;
}

namespace {
// One write(2) per line keeps lines from different threads (and from the
// server's own stderr, which we relay) from interleaving mid-line.
void write_all(int fd, const std::string& s) {
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report it
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}
}  // namespace

void logger::emit(log_level l, const char* source, std::string_view text) const {
  if (!enabled(l)) return;
  if (sink_) {
    sink_(l, source, text);
    return;
  }
  std::string line;
  line.reserve(text.size() + 24);
  line += source;
  line += ": ";
  if (source[0] == 'm') {  // our own lines carry their level
    line += to_string(l);
    line += ": ";
  }
  line += text;
  line += '\n';
  write_all(STDERR_FILENO, line);
}

}  // namespace mcpfwd
