// An ordered, bounded outbox in front of one pipe or stream. Producers on
// the owning strand push whole frames; one writer coroutine drains them with
// gathered writes (writev), so a burst of small messages costs one syscall.
// Frames are pushed into one vector; the writer swaps it with the one it
// writes from (which nothing else touches while a write is pending, so its
// buffers stay valid), and both keep their capacity: nothing is allocated
// before the first frame, and little after.
#pragma once
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "base/net.hpp"

namespace mcpfwd {

template <class Stream>
class pipe_writer {
 public:
  pipe_writer(Stream& s, std::size_t high_water)
      : s_(s), high_(high_water), wake_(s.get_executor()), space_(s.get_executor()) {
    wake_.expires_at(net::steady_timer::time_point::max());
    space_.expires_at(net::steady_timer::time_point::max());
  }

  // Queue a frame (it must already end with its delimiter). Dropped when the
  // stream has failed or is closed.
  void push(std::string frame) {
    if (failed_ || closing_ || frame.empty()) return;
    bytes_ += frame.size();
    q_.push_back(std::move(frame));
    wake_.cancel();
  }

  // Queue a frame, then wait while the outbox is over the high-water mark:
  // this is how a fast producer is slowed to the pace of a slow consumer.
  net::awaitable<void> push_wait(std::string frame) {
    push(std::move(frame));
    while (bytes_ > high_ && !failed_) {
      co_await space_.async_wait(net::as_tuple(net::use_awaitable));
      space_.expires_at(net::steady_timer::time_point::max());
    }
  }

  // Write what is queued, then close the stream (e.g. the server's stdin).
  void close_when_drained() {
    closing_ = true;
    wake_.cancel();
  }

  bool failed() const noexcept { return failed_; }
  bool idle() const noexcept { return q_.empty() && head_ == out_.size() && !busy_; }
  std::size_t queued_bytes() const noexcept { return bytes_; }

  // The writer loop; completes after close_when_drained() has drained, or on
  // a write error (the peer is gone: later frames are dropped).
  net::awaitable<void> run() {
    std::vector<net::const_buffer> bufs;
    for (;;) {
      if (head_ == out_.size()) {  // everything taken was written
        out_.clear();
        head_ = 0;
        if (q_.empty()) {
          if (closing_ || failed_) break;
          co_await wake_.async_wait(net::as_tuple(net::use_awaitable));
          wake_.expires_at(net::steady_timer::time_point::max());
          continue;
        }
        out_.swap(q_);
      }
      // Gather up to 64 frames into one write.
      const std::size_t n = std::min<std::size_t>(out_.size() - head_, 64);
      bufs.clear();
      std::size_t total = 0;
      for (std::size_t i = head_; i < head_ + n; ++i) {
        bufs.emplace_back(net::buffer(out_[i]));
        total += out_[i].size();
      }
      busy_ = true;
      auto [ec, written] = co_await net::async_write(s_, bufs, net::as_tuple(net::use_awaitable));
      busy_ = false;
      (void)written;
      head_ += n;
      bytes_ -= total;
      if (ec) {
        failed_ = true;
        error_ = ec;
        q_.clear();
        out_.clear();
        head_ = 0;
        bytes_ = 0;
      }
      if (bytes_ <= high_) space_.cancel();
    }
    error_code ignored;
    s_.close(ignored);
    space_.cancel();
  }

  error_code error() const noexcept { return error_; }

 private:
  Stream& s_;
  std::size_t high_;
  std::vector<std::string> q_;    // pushed, not yet taken by the writer
  std::vector<std::string> out_;  // taken: out_[head_, size) still to write
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;  // of both
  bool closing_ = false, failed_ = false, busy_ = false;
  error_code error_;
  net::steady_timer wake_, space_;
};

}  // namespace mcpfwd
