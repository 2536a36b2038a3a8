// A FIFO bounded in bytes (and, optionally, in count): every queue of
// messages in mcpfwd is one, so no peer can grow the proxy's memory without
// limit. One message always fits an empty queue, whatever its size (it is
// already bounded by --max-message-bytes).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <utility>

namespace mcpfwd {

inline std::size_t bytes_of(const std::string& s) noexcept {
  return s.size();
}
inline std::size_t bytes_of(const std::pair<std::uint64_t, std::string>& p) noexcept {
  return p.second.size() + sizeof p.first;
}

template <class T>
class byte_queue {
 public:
  explicit byte_queue(std::size_t max_bytes,
                      std::size_t max_count = std::numeric_limits<std::size_t>::max())
      : max_bytes_(max_bytes), max_count_(max_count) {}

  // Appends unless the bound would be exceeded (false: not queued).
  bool try_push(T v) {
    if (!q_.empty() && (bytes_ + bytes_of(v) > max_bytes_ || q_.size() >= max_count_)) return false;
    bytes_ += bytes_of(v);
    q_.push_back(std::move(v));
    return true;
  }
  // Appends, dropping the oldest entries until it fits; how many were dropped.
  std::size_t push_evicting(T v) {
    std::size_t dropped = 0;
    while (!q_.empty() && (bytes_ + bytes_of(v) > max_bytes_ || q_.size() >= max_count_)) {
      pop_front();
      ++dropped;
    }
    bytes_ += bytes_of(v);
    q_.push_back(std::move(v));
    return dropped;
  }
  T pop_front() {
    T v = std::move(q_.front());
    q_.pop_front();
    bytes_ -= bytes_of(v);
    return v;
  }
  void clear() noexcept {
    q_.clear();
    bytes_ = 0;
  }
  bool empty() const noexcept { return q_.empty(); }
  std::size_t size() const noexcept { return q_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  const T& front() const { return q_.front(); }
  auto begin() const { return q_.begin(); }
  auto end() const { return q_.end(); }

 private:
  std::deque<T> q_;
  std::size_t bytes_ = 0;
  std::size_t max_bytes_, max_count_;
};

}  // namespace mcpfwd
