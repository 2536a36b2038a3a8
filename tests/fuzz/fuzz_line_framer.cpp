// The stdio line framer (protocol/line_framer.hpp) with a small limit, fed in
// pieces cut where the input says (fuzz_util.hpp). Checked against a model
// that splits the whole payload at once:
//   - each '\n'-terminated line, less one '\r' before the '\n', is a line if
//     it fits the limit, else one oversize event whose skipped bytes are the
//     whole line (without its '\n');
//   - the unterminated rest is the partial line (take_partial) if it fits the
//     limit, else an oversize event ended by finish();
// so lines never exceed the limit nor contain '\n', and the events do not
// depend on how the input was cut. collected_lines, on the same pieces, gives
// the same lines and, for each oversize line, the answers a peek of the whole
// line gives (valid JSON-RPC errors with the line's id).
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "protocol/line_framer.hpp"

using mcpfwd::line_framer;

namespace {

struct event {
  bool oversize = false;
  std::string bytes;  // the line, or the skipped bytes of an oversize line
  bool operator==(const event&) const = default;
};

// Records the framer's events and checks their order as they come.
struct recorder : line_framer::sink {
  explicit recorder(std::size_t max) : max_line(max) {}
  std::size_t max_line;
  std::vector<event> events;
  bool open = false;  // between on_oversize and on_oversize_end

  void on_line(std::string line) override {
    FUZZ_CHECK(!open);
    FUZZ_CHECK(line.size() <= max_line);
    FUZZ_CHECK(line.find('\n') == std::string::npos);
    events.push_back({false, std::move(line)});
  }
  void on_oversize(std::size_t prefix_bytes) override {
    FUZZ_CHECK(!open);
    FUZZ_CHECK(prefix_bytes > max_line);
    open = true;
    events.push_back({true, {}});
    prefix = prefix_bytes;
  }
  void on_skipped(std::string_view b) override {
    FUZZ_CHECK(open);
    FUZZ_CHECK(b.find('\n') == std::string_view::npos);
    events.back().bytes.append(b);
  }
  void on_oversize_end() override {
    FUZZ_CHECK(open);
    open = false;
    // The prefix reported is what had been seen: part of the line.
    FUZZ_CHECK(prefix <= events.back().bytes.size());
  }
  std::size_t prefix = 0;
};

struct model {
  std::vector<event> events;
  std::string partial;
};

model frame_at_once(std::string_view in, std::size_t max_line) {
  model m;
  for (;;) {
    const std::size_t nl = in.find('\n');
    if (nl == std::string_view::npos) break;
    const std::string_view line = in.substr(0, nl);
    std::string_view content = line;
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    if (content.size() > max_line)
      m.events.push_back({true, std::string(line)});
    else
      m.events.push_back({false, std::string(content)});
    in.remove_prefix(nl + 1);
  }
  if (in.size() > max_line)
    m.events.push_back({true, std::string(in)});
  else
    m.partial = in;
  return m;
}

// Feeds the pieces, checking the framer's state between them.
std::string run(line_framer& f, line_framer::sink& out, const std::vector<std::string_view>& chunks,
                std::size_t max_line) {
  for (const std::string_view c : chunks) {
    f.feed(c, out);
    // Held back: at most the limit and a '\r' that may start a "\r\n".
    FUZZ_CHECK(f.pending() <= max_line + 1);
    FUZZ_CHECK(!(f.discarding() && f.pending() > 0));
  }
  f.finish(out);
  FUZZ_CHECK(!f.discarding());
  std::string rest = f.take_partial();
  FUZZ_CHECK(f.pending() == 0);
  return rest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::stream_input in = fuzz::split_input(data, size);
  const model want = frame_at_once(in.payload, in.limit);

  line_framer cut(in.limit);
  recorder got(in.limit);
  const std::string rest = run(cut, got, in.chunks, in.limit);
  FUZZ_CHECK(!got.open);
  FUZZ_CHECK(got.events == want.events);
  FUZZ_CHECK(rest == want.partial);
  // A line delivered at end of input is a line too: within the limit.
  FUZZ_CHECK(rest.size() <= in.limit);

  line_framer whole(in.limit);
  recorder got_whole(in.limit);
  FUZZ_CHECK(run(whole, got_whole, {in.payload}, in.limit) == want.partial);
  FUZZ_CHECK(got_whole.events == want.events);

  // collected_lines, the sink the stdio readers use, on the same pieces.
  for (const bool from_server : {false, true}) {
    line_framer f(in.limit);
    mcpfwd::collected_lines items(in.limit, from_server);
    FUZZ_CHECK(run(f, items, in.chunks, in.limit) == want.partial);
    FUZZ_CHECK(items.items.size() == want.events.size());
    for (std::size_t i = 0; i < want.events.size(); ++i) {
      const auto& it = items.items[i];
      const event& w = want.events[i];
      FUZZ_CHECK(static_cast<bool>(it.oversize) == w.oversize);
      if (!w.oversize) {
        FUZZ_CHECK(it.line == w.bytes);
        continue;
      }
      FUZZ_CHECK(it.line.empty());
      mcpfwd::jsonrpc_peek p;
      p.feed(w.bytes);
      const mcpfwd::oversize_answer a = mcpfwd::answer_oversize(p, in.limit, from_server);
      FUZZ_CHECK(it.oversize->to_sender == a.to_sender);
      FUZZ_CHECK(it.oversize->to_receiver == a.to_receiver);
      fuzz::check_oversize_answer(*it.oversize, p);
    }
  }
  return 0;
}
