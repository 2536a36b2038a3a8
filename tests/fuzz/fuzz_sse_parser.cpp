// The SSE parser (protocol/sse_parser.hpp) with a small limit, fed in pieces
// cut where the input says (fuzz_util.hpp). Checked against a model that
// reads the whole payload at once, as WHATWG HTML §9.2.6 describes (lines end
// in CRLF, LF or CR; an unterminated last line is no line; a blank line
// dispatches an event that has data; comments skipped; "id" without NUL
// moves the last event id; "retry" of digits only), bounded as the header
// says: an event whose data would exceed the limit, or with a line longer
// than limit + 16 bytes, is dispatched as oversize, without its data and
// with the answers its JSON-RPC message needs (a peek of its data). The events
// must not depend on how the input was cut; event data never exceeds the
// limit and holds no CR; ids and types hold no line ends.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "protocol/sse_parser.hpp"

using mcpfwd::sse_event;
using mcpfwd::sse_parser;

namespace {

struct model {
  std::vector<sse_event> events;
  std::string last_id;
  std::optional<unsigned> retry;
};

model parse_at_once(std::string_view in, std::size_t max) {
  model m;
  std::string data, type;
  bool has_data = false, oversize = false;
  std::string peeked;  // the data of an oversize event, for its peek
  auto go_oversize = [&] {
    if (oversize) return;
    oversize = true;
    peeked = std::move(data);
    data.clear();
  };
  for (;;) {
    const std::size_t end = in.find_first_of("\r\n");
    if (end == std::string_view::npos) break;  // no line end: not a line yet
    const std::string_view line = in.substr(0, end);
    in.remove_prefix(end + (in.substr(end, 2) == "\r\n" ? 2 : 1));
    std::string_view field = line, value;
    if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    }
    if (line.size() > max + 16) {  // too long to hold: only its data is peeked
      go_oversize();
      if (line.substr(0, 5) == "data:") peeked += "\n" + std::string(value);
      continue;
    }
    if (line.empty()) {
      if (has_data || oversize) {
        sse_event ev;
        ev.id = m.last_id;
        ev.type = type;
        if (oversize) {
          ev.oversize = true;
          mcpfwd::jsonrpc_peek p;
          p.feed(peeked);
          ev.answer =
              std::make_unique<mcpfwd::oversize_answer>(mcpfwd::answer_oversize(p, max, true));
          fuzz::check_oversize_answer(*ev.answer, p);
        } else {
          ev.data = data;
        }
        m.events.push_back(std::move(ev));
      }
      data.clear();
      type.clear();
      has_data = oversize = false;
      continue;
    }
    if (line[0] == ':') continue;
    if (field == "data") {
      // The joined data, and one byte more for the first line.
      if (data.size() + value.size() + 1 > max) go_oversize();
      if (oversize) {
        peeked += "\n" + std::string(value);
      } else {
        if (has_data) data += '\n';
        data += value;
        has_data = true;
      }
    } else if (field == "event") {
      type = value;
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) m.last_id = value;
    } else if (field == "retry") {
      if (!value.empty() && value.size() < 10 &&
          value.find_first_not_of("0123456789") == std::string_view::npos)
        m.retry = static_cast<unsigned>(std::stoul(std::string(value)));
    }
  }
  return m;
}

void check_same(const std::vector<sse_event>& got, const std::vector<sse_event>& want) {
  FUZZ_CHECK(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const sse_event& g = got[i];
    const sse_event& w = want[i];
    FUZZ_CHECK(g.id == w.id);
    FUZZ_CHECK(g.type == w.type);
    FUZZ_CHECK(g.data == w.data);
    FUZZ_CHECK(g.oversize == w.oversize);
    FUZZ_CHECK(static_cast<bool>(g.answer) == static_cast<bool>(w.answer));
    if (g.answer) {
      FUZZ_CHECK(g.answer->to_sender == w.answer->to_sender);
      FUZZ_CHECK(g.answer->to_receiver == w.answer->to_receiver);
    }
  }
}

std::vector<sse_event> run(sse_parser& p, const std::vector<std::string_view>& chunks,
                           std::size_t max) {
  std::vector<sse_event> out;
  for (const std::string_view c : chunks) {
    const std::size_t before = out.size();
    p.feed(c, out);
    for (std::size_t i = before; i < out.size(); ++i) {
      const sse_event& ev = out[i];
      FUZZ_CHECK(ev.data.size() <= max);
      FUZZ_CHECK(ev.data.find('\r') == std::string::npos);
      FUZZ_CHECK(ev.type.find_first_of("\r\n") == std::string::npos);
      FUZZ_CHECK(ev.id.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
      FUZZ_CHECK(ev.oversize == static_cast<bool>(ev.answer));
      FUZZ_CHECK(!ev.oversize || ev.data.empty());
    }
    FUZZ_CHECK(p.last_event_id().find_first_of("\r\n") == std::string::npos);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::stream_input in = fuzz::split_input(data, size);
  const model want = parse_at_once(in.payload, in.limit);

  sse_parser cut(in.limit);
  check_same(run(cut, in.chunks, in.limit), want.events);
  FUZZ_CHECK(cut.last_event_id() == want.last_id);
  FUZZ_CHECK(cut.retry_ms() == want.retry);

  sse_parser whole(in.limit);
  check_same(run(whole, {in.payload}, in.limit), want.events);
  FUZZ_CHECK(whole.last_event_id() == want.last_id);
  FUZZ_CHECK(whole.retry_ms() == want.retry);
  return 0;
}
