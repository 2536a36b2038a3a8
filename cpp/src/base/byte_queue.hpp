// A FIFO bounded in bytes (and, optionally, in count): every queue of
// messages in mcpfwd is one, so no peer can grow the proxy's memory without
// limit. One message always fits an empty queue, whatever its size (it is
// already bounded by --max-message-bytes).
//
// An empty queue allocates nothing (most of a session's queues stay empty for
// its whole life; a std::deque would allocate a map and a 512-byte node up
// front): the entries live in a vector from the first push, consumed from a
// head index and compacted once the consumed part is the larger half.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

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
    if (!empty() && (bytes_ + bytes_of(v) > max_bytes_ || size() >= max_count_)) return false;
    bytes_ += bytes_of(v);
    q_.push_back(std::move(v));
    return true;
  }
  // Appends, dropping the oldest entries until it fits; how many were dropped.
  std::size_t push_evicting(T v) {
    std::size_t dropped = 0;
    while (!empty() && (bytes_ + bytes_of(v) > max_bytes_ || size() >= max_count_)) {
      pop_front();
      ++dropped;
    }
    bytes_ += bytes_of(v);
    q_.push_back(std::move(v));
    return dropped;
  }
  T pop_front() {
    T v = std::move(q_[head_++]);
    bytes_ -= bytes_of(v);
    if (head_ == q_.size()) {
      q_.clear();  // keeps the capacity: a queue in use does not reallocate
      head_ = 0;
    } else if (head_ >= 32 && head_ * 2 >= q_.size()) {
      q_.erase(q_.begin(), q_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return v;
  }
  T pop_back() {
    T v = std::move(q_.back());
    q_.pop_back();
    bytes_ -= bytes_of(v);
    if (head_ == q_.size()) {
      q_.clear();
      head_ = 0;
    }
    return v;
  }
  void clear() noexcept {
    q_.clear();
    head_ = 0;
    bytes_ = 0;
  }
  bool empty() const noexcept { return head_ == q_.size(); }
  std::size_t size() const noexcept { return q_.size() - head_; }
  std::size_t bytes() const noexcept { return bytes_; }
  const T& front() const { return q_[head_]; }
  const T& back() const { return q_.back(); }
  auto begin() const { return q_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const { return q_.end(); }

 private:
  std::vector<T> q_;
  std::size_t head_ = 0;  // q_[0, head_) were popped
  std::size_t bytes_ = 0;
  std::size_t max_bytes_, max_count_;
};

}  // namespace mcpfwd
