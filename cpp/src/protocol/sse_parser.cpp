#include "protocol/sse_parser.hpp"

namespace mcpfwd {

void sse_parser::feed(std::string_view bytes, std::vector<sse_event>& out) {
  if (bytes.empty()) return;  // a CR at the end of the last read still awaits its LF
  std::size_t i = 0;
  if (skip_lf_ && bytes[0] == '\n') i = 1;
  skip_lf_ = false;
  while (i < bytes.size()) {
    const std::size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      const std::string_view part = bytes.substr(i);
      // A line longer than an event may be cannot become a valid event.
      if (line_over_) {
        if (over_data_) peek_->feed(part);
      } else if (line_.size() + part.size() > max_ + 16) {
        line_.append(part);
        long_line(line_);
        line_.clear();
      } else {
        line_.append(part);
      }
      return;
    }
    const std::string_view part = bytes.substr(i, end - i);
    if (line_over_) {
      if (over_data_) peek_->feed(part);
    } else if (line_.size() + part.size() > max_ + 16) {
      line_.append(part);
      long_line(line_);
    } else if (line_.empty()) {
      line(part, out);
    } else {
      line_.append(part);
      line(line_, out);
    }
    line_.clear();
    if (line_.capacity() > 64 * 1024) line_.shrink_to_fit();  // after a long line
    line_over_ = over_data_ = false;
    if (bytes[end] == '\r') {
      if (end + 1 < bytes.size()) {
        i = end + (bytes[end + 1] == '\n' ? 2 : 1);
      } else {
        skip_lf_ = true;
        i = end + 1;
      }
    } else {
      i = end + 1;
    }
  }
}

void sse_parser::start_oversize() {
  if (oversize_) return;
  oversize_ = true;
  peek_ = std::make_unique<jsonrpc_peek>();
  peek_->feed(data_);  // data lines join with '\n', which is JSON whitespace
  data_.clear();
}

void sse_parser::long_line(std::string_view head) {
  line_over_ = true;
  start_oversize();
  if (head.substr(0, 5) != "data:") return;
  over_data_ = true;
  head.remove_prefix(5);
  if (!head.empty() && head[0] == ' ') head.remove_prefix(1);
  peek_->feed("\n");
  peek_->feed(head);
}

void sse_parser::line(std::string_view l, std::vector<sse_event>& out) {
  if (l.empty()) {  // dispatch
    if (has_data_ || oversize_) {
      sse_event ev;
      ev.id = last_id_;
      ev.type = std::move(type_);
      if (oversize_) {
        ev.oversize = true;
        ev.answer = std::make_unique<oversize_answer>(answer_oversize(*peek_, max_, true));
        peek_.reset();
      } else {
        ev.data = std::move(data_);
      }
      out.push_back(std::move(ev));
    }
    data_.clear();
    type_.clear();
    has_data_ = oversize_ = false;
    return;
  }
  if (l[0] == ':') return;  // comment (keep-alive)
  std::string_view field = l, value;
  if (const auto colon = l.find(':'); colon != std::string_view::npos) {
    field = l.substr(0, colon);
    value = l.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (!oversize_ && data_.size() + value.size() + 1 > max_) start_oversize();
    if (oversize_) {
      peek_->feed("\n");
      peek_->feed(value);
      return;
    }
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  } else if (field == "retry") {
    if (!value.empty() && value.size() < 10 &&
        value.find_first_not_of("0123456789") == std::string_view::npos)
      retry_ = static_cast<unsigned>(std::stoul(std::string(value)));
  }
}

}  // namespace mcpfwd
