// The read buffer of an accepted HTTP connection. A keep-alive connection
// spends most of its life idle, waiting for its next request with a read
// pending into this buffer: so that read is small (conn_first_read, 1 KiB,
// enough for a typical MCP request's head and body; a larger request grows
// the buffer), and the listener gives the storage back between requests
// (release_if_empty) instead of keeping what the last request grew it to.
// Blocks of the sizes used on every request (the first read, and the 4 KiB a
// POST's watch of its client prepares) come from a small per-thread cache,
// so none of this costs a malloc per request.
#pragma once
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

namespace mcpfwd {

inline constexpr std::size_t conn_first_read = 1024;

namespace detail {
// Free blocks of one size, per thread (a block freed on another thread than
// it was taken on joins that thread's cache).
struct block_cache {
  static constexpr std::size_t keep = 64;
  std::vector<void*> free;
  ~block_cache() {
    for (void* p : free) ::operator delete(p);
  }
};
// The cache of blocks of `bytes` (1 KiB or 4 KiB), or null for another size.
[[gnu::noinline]] inline block_cache* thread_block_cache(std::size_t bytes) {
  thread_local block_cache small, large;
  return bytes == 1024 ? &small : bytes == 4096 ? &large : nullptr;
}
}  // namespace detail

template <class T>
struct block_allocator {
  using value_type = T;
  block_allocator() noexcept = default;
  template <class U>
  block_allocator(const block_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (auto* c = detail::thread_block_cache(bytes); c != nullptr && !c->free.empty()) {
      void* p = c->free.back();
      c->free.pop_back();
      return static_cast<T*>(p);
    }
    return static_cast<T*>(::operator new(bytes));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (auto* c = detail::thread_block_cache(n * sizeof(T));
        c != nullptr && c->free.size() < detail::block_cache::keep) {
      try {
        c->free.push_back(p);
        return;
      } catch (...) {
      }
    }
    ::operator delete(p);
  }
  template <class U>
  bool operator==(const block_allocator<U>&) const noexcept {
    return true;
  }
};

using conn_buffer = boost::beast::basic_flat_buffer<block_allocator<char>>;

// Frees the buffer's storage when it holds nothing (a connection going idle).
inline void release_if_empty(conn_buffer& b) {
  if (b.size() == 0 && b.capacity() != 0) b.shrink_to_fit();
}

}  // namespace mcpfwd
