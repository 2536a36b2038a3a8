// pipe_writer over a real pipe: a frame is written at once when the pipe
// takes it, what it does not take is written asynchronously, and the reader
// gets every byte in order either way.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <thread>

#include "io/pipe_writer.hpp"

using mcpfwd::error_code;
using mcpfwd::pipe_writer;
namespace net = mcpfwd::net;

namespace {
struct pipe_pair {
  net::io_context ioc;
  int rd = -1;
  net::posix::stream_descriptor wr{ioc};
  explicit pipe_pair(bool non_blocking) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    rd = fds[0];
    wr.assign(fds[1]);
    error_code ec;
    wr.non_blocking(non_blocking, ec);
    REQUIRE(!ec);
  }
  ~pipe_pair() { ::close(rd); }
  // Read `n` bytes from the read end (blocking).
  std::string read_exactly(std::size_t n) const {
    std::string got;
    char buf[65536];
    while (got.size() < n) {
      const ssize_t k = ::read(rd, buf, sizeof buf);
      if (k <= 0) break;
      got.append(buf, static_cast<std::size_t>(k));
    }
    return got;
  }
  // Run the io_context until `done` (at most 10 s).
  template <class Pred>
  bool run_until(Pred done) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < give_up) {
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(20));
    }
    return done();
  }
};

// A pipe_writer on the pair's write end, its handlers started.
struct started_writer {
  pipe_writer<net::posix::stream_descriptor> out;
  std::shared_ptr<int> owner = std::make_shared<int>(0);
  std::exception_ptr failure;
  explicit started_writer(pipe_pair& p) : out(p.wr, 1 << 20) {
    out.start(owner, [this](std::exception_ptr e) { failure = e; });
  }
};
}  // namespace

TEST_CASE("pipe_writer writes a frame at once when the pipe takes it") {
  pipe_pair p(true);
  started_writer w(p);
  auto& out = w.out;
  out.push("{\"a\":1}\n");
  out.push("{\"b\":2}\n");
  // Nothing queued, nothing pending: written before push returned, with no
  // completion to run on the io_context.
  CHECK(out.queued_bytes() == 0);
  CHECK(out.idle());
  CHECK(p.ioc.poll() == 0);
  CHECK(p.read_exactly(16) == "{\"a\":1}\n{\"b\":2}\n");
  CHECK(!w.failure);
}

TEST_CASE("pipe_writer writes what a full pipe does not take asynchronously, in order") {
  pipe_pair p(true);
  started_writer w(p);
  auto& out = w.out;
  std::string expected;
  for (char c : {'a', 'b', 'c', 'd'}) {  // 4 x 100 kB: more than a pipe holds (64 KiB)
    std::string frame(100000, c);
    frame += '\n';
    expected += frame;
    out.push(frame);
  }
  // The pipe is full and the rest waits for the reader (a pending write
  // counts its frames until it completes).
  CHECK(out.queued_bytes() == expected.size());
  CHECK(!out.idle());
  std::string got;
  std::thread reader([&] { got = p.read_exactly(expected.size()); });
  CHECK(p.run_until([&] { return out.idle(); }));
  reader.join();
  CHECK(got.size() == expected.size());
  CHECK(got == expected);
  CHECK(out.queued_bytes() == 0);
  CHECK(!w.failure);
}

TEST_CASE("pipe_writer on a blocking descriptor never writes synchronously") {
  pipe_pair p(false);
  started_writer w(p);
  auto& out = w.out;
  out.push("{\"c\":3}\n");
  CHECK(out.queued_bytes() == 8);  // left to the asynchronous write
  CHECK(p.run_until([&] { return out.idle(); }));
  CHECK(p.read_exactly(8) == "{\"c\":3}\n");
  CHECK(!w.failure);
}
