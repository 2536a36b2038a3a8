#include "protocol/line_framer.hpp"

#include <cstring>
#include <utility>

namespace mcpfwd {

void line_framer::feed(std::string_view data, sink& out) {
  while (!data.empty()) {
    const void* nl = std::memchr(data.data(), '\n', data.size());
    const std::size_t seg =
        nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) : data.size();
    if (discarding_) {
      out.on_skipped(data.substr(0, seg));
      if (nl == nullptr) return;  // still inside the oversize line
      discarding_ = false;
      out.on_oversize_end();
      data.remove_prefix(seg + 1);
      continue;
    }
    // The limit applies to the line without its terminator ("\n" or "\r\n"),
    // so an unterminated line may hold one byte more: a '\r' before its '\n'.
    std::size_t len = partial_.size() + seg;
    const bool cr = nl && len > 0 && (seg > 0 ? data[seg - 1] == '\r' : partial_.back() == '\r');
    const std::size_t content = len - (cr ? 1 : 0);
    if (nl ? content > max_line_ : len > max_line_ + 1) {
      out.on_oversize(len);
      out.on_skipped(partial_);
      out.on_skipped(data.substr(0, seg));
      partial_.clear();
      partial_.shrink_to_fit();
      if (nl == nullptr) {
        discarding_ = true;
        return;
      }
      out.on_oversize_end();
      data.remove_prefix(seg + 1);
      continue;
    }
    if (nl == nullptr) {
      partial_.append(data);
      return;
    }
    std::string line;
    if (partial_.empty()) {
      line.assign(data.data(), seg);
    } else {
      line = std::move(partial_);
      partial_.clear();
      line.append(data.data(), seg);
    }
    if (cr) line.pop_back();
    data.remove_prefix(seg + 1);
    out.on_line(std::move(line));
  }
}

void line_framer::finish(sink& out) {
  if (std::exchange(discarding_, false)) {
    out.on_oversize_end();
  } else if (partial_.size() > max_line_) {  // one byte over, and no "\r\n" came
    out.on_oversize(partial_.size());
    out.on_skipped(partial_);
    out.on_oversize_end();
    partial_.clear();
  }
}

}  // namespace mcpfwd
