// An ordered, bounded outbox in front of one pipe or stream. Producers on
// the owning strand push whole frames; one writer drains them with gathered
// writes (writev), so a burst of small messages costs one syscall. The writer
// is either a coroutine (run()) or, for the many idle sessions' server stdins,
// plain completion handlers (start()): those exist only while a write is
// pending, so an idle outbox holds no coroutine frame.
// Frames are pushed into one vector; the writer swaps it with the one it
// writes from (which nothing else touches while a write is pending, so its
// buffers stay valid), and both keep their capacity: nothing is allocated
// before the first frame, and little after.
#pragma once
#include <algorithm>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>
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
    if (handlers_)
      write_next();
    else
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
    if (handlers_)
      write_next();
    else
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
      auto [ec, nwritten] = co_await net::async_write(s_, bufs, net::as_tuple(net::use_awaitable));
      busy_ = false;
      (void)nwritten;
      after_write(n, total, ec);
    }
    end();
  }

  // The writer as completion handlers instead of run(): a write starts when a
  // frame is pushed and the chain ends when the outbox is empty; the stream is
  // closed after close_when_drained() has drained, or on a write error, as
  // run() does. A pending write holds `owner` (only a weak reference is kept
  // while idle, so an idle outbox keeps nothing alive); an exception thrown
  // in a completion goes to `on_error`, never out of the io_context. Call
  // once, on the strand, instead of run().
  void start(std::weak_ptr<void> owner, std::function<void(std::exception_ptr)> on_error) {
    handlers_ = true;
    owner_ = std::move(owner);
    on_error_ = std::move(on_error);
    write_next();
  }

  error_code error() const noexcept { return error_; }

 private:
  // start()'s writer: the next gathered write, or the end when drained.
  void write_next() {
    if (busy_ || ended_) return;
    if (head_ == out_.size()) {
      out_.clear();
      head_ = 0;
      if (q_.empty()) {
        if (closing_ || failed_) end();
        return;
      }
      out_.swap(q_);
    }
    std::shared_ptr<void> owner = owner_.lock();
    if (!owner) return;  // the owner is being destroyed: nothing will read this
    const std::size_t n = std::min<std::size_t>(out_.size() - head_, 64);
    bufs_.clear();
    std::size_t total = 0;
    for (std::size_t i = head_; i < head_ + n; ++i) {
      bufs_.emplace_back(net::buffer(out_[i]));
      total += out_[i].size();
    }
    // Written at once when the stream is non-blocking and takes it all (the
    // usual case: a request into an empty pipe), so no completion goes
    // through the io_context's queue; what it does not take is written
    // asynchronously.
    if (s_.non_blocking()) {
      error_code ec;
      const std::size_t now = s_.write_some(bufs_, ec);
      if (now == total || (ec && ec != net::error::would_block)) {
        after_write(n, total, ec);
        return write_next();  // the rest of the outbox (or, after an error, the end)
      }
      skip(now);
    }
    busy_ = true;
    net::async_write(s_, bufs_,
                     [this, n, total, owner = std::move(owner)](error_code ec, std::size_t) {
                       try {
                         busy_ = false;
                         after_write(n, total, ec);
                         write_next();
                       } catch (...) {
                         on_error_(std::current_exception());
                       }
                     });
  }
  // Drop the first `bytes` of bufs_ (written).
  void skip(std::size_t bytes) {
    std::size_t done = 0;
    while (done < bufs_.size() && bytes >= bufs_[done].size()) bytes -= bufs_[done++].size();
    bufs_.erase(bufs_.begin(), bufs_.begin() + static_cast<std::ptrdiff_t>(done));
    if (!bufs_.empty()) bufs_.front() += bytes;
  }
  // After a write of the frames out_[head_, head_ + n) (total bytes).
  void after_write(std::size_t n, std::size_t total, error_code ec) {
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
  void end() {
    ended_ = true;
    error_code ignored;
    s_.close(ignored);
    space_.cancel();
  }

  Stream& s_;
  std::size_t high_;
  std::vector<std::string> q_;    // pushed, not yet taken by the writer
  std::vector<std::string> out_;  // taken: out_[head_, size) still to write
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;  // of both
  bool closing_ = false, failed_ = false, busy_ = false;
  error_code error_;
  net::steady_timer wake_, space_;
  // start()'s writer only:
  bool handlers_ = false, ended_ = false;
  std::vector<net::const_buffer> bufs_;  // of the pending write
  std::weak_ptr<void> owner_;
  std::function<void(std::exception_ptr)> on_error_;
};

}  // namespace mcpfwd
