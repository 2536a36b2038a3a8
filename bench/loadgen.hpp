// loadgen — the benchmark's load generator (see docs/benchmarks.md).
//
// Split over small translation units so that Beast is compiled once:
//   loadgen.cpp         options, phases, statistics, the report
//   loadgen_http.cpp    the Streamable HTTP client (Beast)
//   loadgen_direct.cpp  the direct stdio client (posix_spawnp + pipes)
//   loadgen_check.cpp   answer checks (Boost.JSON) and SSE parsing
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace loadgen {

namespace net = boost::asio;
using clock = std::chrono::steady_clock;

struct options {
  // --url http://HOST:PORT/PATH (HOST must be a loopback address)
  std::string url = "http://127.0.0.1:8931/mcp";
  std::string host, port, target;
  int sessions = 1;
  long calls = 1000;  // measured tools/call per session
  long warmup = 100;  // unmeasured tools/call per session, before the measured phase
  int threads = 1;
  double max_seconds = 60;
  int open_concurrency = 0;   // sessions being opened at once; 0: all
  int idle_sessions = 0;      // --idle-sessions K: open K sessions, make no calls
  double hold_seconds = 0;    // ... and keep them open this long after the report
  int abandon_sessions = 0;   // --abandon-sessions N: open N sessions over time, never end them
  double rate = 0;            // ... starting this many per second (0: as fast as possible)
  int stream_every = 0;       // ... every K-th also opens its GET stream before leaving
  int cpu_pid = 0;            // report this process's CPU time per measured call
  bool modern = false;        // --era modern: 2026-07-28, no initialize, every request enveloped
  std::string client_header;  // --client-header NAME: send "NAME: <client number>" (modern)
  std::string latency_out;    // --latency-out FILE: every measured latency (ns), one a line
  bool direct = false;
  std::vector<std::string> command;  // --direct -- SERVER_COMMAND...
};

// One way of reaching an MCP server: over HTTP through the proxy, or its
// stdio directly. Each client is used by one coroutine at a time.
// With --era modern (2026-07-28) there is no session: start() only connects
// (or spawns), and every HTTP request is a POST carrying the routing headers
// MCP-Protocol-Version, Mcp-Method: tools/call and Mcp-Name: echo (the only
// request loadgen sends in that era).
class client {
 public:
  virtual ~client() = default;
  // Connect (HTTP) or spawn the server (direct).
  virtual net::awaitable<bool> start(std::string& err) = 0;
  // Send one JSON-RPC request; `answer` gets the JSON text of its response.
  virtual net::awaitable<bool> request(const std::string& body, std::string& answer,
                                       std::string& err) = 0;
  // Send one notification (HTTP: expects 202 Accepted).
  virtual net::awaitable<bool> notify(const std::string& body, std::string& err) = 0;
  // End the session (HTTP: DELETE; direct: close stdin and reap the server).
  virtual net::awaitable<void> finish() = 0;
};

// The HTTP client's extras, for --abandon-sessions.
class http_session_client : public client {
 public:
  // Open the session's GET stream on a second connection and read its head.
  virtual net::awaitable<bool> open_stream(std::string& err) = 0;
  // Leave without ending the session: close every connection, send no DELETE.
  virtual void abandon() noexcept = 0;
};

// `index` is the client's number (0, 1, ...), sent in --client-header.
std::unique_ptr<http_session_client> make_http_client(net::any_io_executor ex, const options& o,
                                                      int index);
std::unique_ptr<client> make_direct_client(net::any_io_executor ex, const options& o);

// Direct mode: every server spawned and not yet reaped (for the hard timeout).
void register_child(pid_t pid);
void unregister_child(pid_t pid);
void kill_children() noexcept;

// Answer checks (loadgen_check.cpp).
enum class verdict { ok, mismatch, error };
// A tools/call echo answer: its id must be `id` and its first text content `token`.
verdict check_echo(std::string_view answer, std::int64_t id, std::string_view token,
                   std::string& why);
// An initialize answer: a result carrying a protocolVersion.
bool check_initialize(std::string_view answer, std::string& why);
// False for a line that is a JSON-RPC request or notification (it has a
// "method"); true otherwise, unparsable lines included (the checks report them).
bool is_response(std::string_view line);
// The data of the last event of a complete text/event-stream body.
std::string last_sse_data(std::string_view body);

}  // namespace loadgen
