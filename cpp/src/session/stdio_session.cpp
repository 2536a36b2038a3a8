#include "session/stdio_session.hpp"

#include <signal.h>

#include <vector>

#include "base/errors.hpp"
#include "base/spawn.hpp"

namespace mcpfwd {

namespace {

constexpr std::size_t read_chunk = 64 * 1024;
// Outbox high-water marks: a producer waits (backpressure) beyond this.
constexpr std::size_t outbox_high_water = 1u << 20;

std::string preview(std::string_view s) {
  constexpr std::size_t n = 200;
  return s.size() <= n ? std::string(s) : std::string(s.substr(0, n)) + "...";
}

}  // namespace

stdio_session::stdio_session(io_executor ex, const upstream_factory& make_upstream, int in_fd,
                             int out_fd, const proxy_config& cfg, const logger& log,
                             proxy_metrics& metrics, done_fn done)
    : strand_(net::make_strand(ex)),
      cfg_(cfg),
      rec_("stdio", session_kind::stdio, cfg),
      n_(rec_.counters()),
      log_(log),
      metrics_(metrics),
      done_(std::move(done)),
      client_in_(strand_, in_fd),
      client_out_(strand_, out_fd),
      upstream_(make_upstream(strand_, "")),
      to_client_(client_out_, outbox_high_water),
      client_framer_(cfg.max_message_bytes),
      client_flushed_(strand_) {}

stdio_session::~stdio_session() = default;

void stdio_session::start() {
  auto self = shared_from_this();
  rec_.set_state(session_state::ready);
  net::post(strand_, [self] {
    self->log_.debug("upstream: " + json::serialize(self->upstream_->describe()));
  });
  net::co_spawn(
      strand_, [self]() { return self->read_client(); },
      log_failure(log_, "the reader of the client's input",
                  [self] { self->begin_shutdown("mcpfwd internal error"); }));
  upstream_->start(self, *this);
  if (cfg_.on_event) {
    net::post(strand_, [self] {
      if (!self->cfg_.on_event(event_kind::session_opened, "stdio", {}))
        self->begin_shutdown("session refused by the event callback");
    });
  }
  net::co_spawn(
      strand_, [self]() { return self->to_client_.run(); },
      [self](std::exception_ptr e) {
        if (e) log_failure(self->log_, "the writer to the client")(e);
        self->client_flushed_.notify();
        // The client stopped reading (its end of our output is closed):
        // nobody is left to answer, so end the session.
        if (self->to_client_.failed()) {
          self->log_.warn("cannot write to the client (" + self->to_client_.error().message() +
                          "): shutting down");
          self->begin_shutdown("client output closed");
        }
      });
  net::co_spawn(
      strand_, [self]() { return self->supervise(); },
      log_failure(log_, "the session supervisor", [self] {
        self->rec_.ended("internal error", 70);
        self->rec_.set_state(session_state::closed);
        if (self->done_) self->done_(70, "internal error");
      }));
}

void stdio_session::stop() {
  if (stop_requested_.exchange(true)) return;
  net::post(strand_, [self = shared_from_this()] { self->begin_shutdown("stop requested"); });
}

void stdio_session::reply_error(const std::string& id, int code, const std::string& text) {
  std::string frame = make_error_response(id, code, text);
  frame += '\n';
  session_counters::add(n_.proxy_replies);
  to_client_.push(std::move(frame));
}

net::awaitable<void> stdio_session::read_client() {
  std::vector<char> buf(read_chunk);
  collected_lines got(cfg_.max_message_bytes, false);
  // What one feed produced, in order. A line over the limit is dropped; a
  // request in it is refused with its id, a response in it (to a server's
  // request) replaced by an error for the server; anything else gets the
  // null-id error a message whose id cannot be known gets.
  auto deliver = [&]() -> net::awaitable<void> {
    for (auto& it : got.items) {
      if (!it.oversize) {
        co_await handle_client_line(std::move(it.line));
        continue;
      }
      session_counters::add(n_.oversize);
      log_.warn("client message over " + std::to_string(cfg_.max_message_bytes) +
                " bytes discarded");
      if (!it.oversize->to_receiver.empty()) {
        upstream_->send_now(std::move(it.oversize->to_receiver));
      } else if (!it.oversize->to_sender.empty()) {
        session_counters::add(n_.proxy_replies);
        to_client_.push(std::move(it.oversize->to_sender) + '\n');
      } else {
        reply_error({}, rpc_error::invalid_request, oversize_message(cfg_.max_message_bytes));
      }
    }
  };
  for (;;) {
    auto [ec, n] =
        co_await client_in_.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
    if (n > 0) {
      got.items.clear();
      client_framer_.feed(std::string_view(buf.data(), n), got);
      co_await deliver();
    }
    if (ec) {
      if (ec != net::error::operation_aborted && !shutting_down_) {
        got.items.clear();
        client_framer_.finish(got);
        co_await deliver();
        // An unterminated last line still counts as a message.
        if (std::string rest = client_framer_.take_partial(); !rest.empty())
          co_await handle_client_line(std::move(rest));
        log_.debug(ec == net::error::eof ? "client closed its input"
                                         : "client input failed: " + ec.message());
      }
      break;
    }
  }
  begin_shutdown("client closed its input");
}

// A client batch (2025-03-26): its elements go to the server one by one (the
// SDKs' stdio servers do not answer a batch line) and the answers to its
// requests come back to the client together, as one batch line.
struct stdio_session::batch_group {
  std::size_t pending = 0;
  std::vector<std::string> answers;
};

bool stdio_session::admit(const message_info& mi, const std::shared_ptr<batch_group>& group) {
  if (mi.kind != message_kind::request) return true;
  if (in_flight_.count(mi.id) > 0) {
    session_counters::add(n_.invalid);
    log_.warn("refused a client request whose id " + mi.id + " is already in flight");
    std::string err =
        make_error_response(mi.id, rpc_error::invalid_request, duplicate_id_text(mi.id));
    session_counters::add(n_.proxy_replies);
    if (group)
      group->answers.push_back(std::move(err));
    else
      to_client_.push(std::move(err) + '\n');
    return false;
  }
  in_flight_[mi.id] = pending{method_index(mi.method), std::chrono::steady_clock::now()};
  rec_.client_request(mi);
  if (group) {
    batched_[mi.id] = group;
    ++group->pending;
  }
  return true;
}

void stdio_session::emit_batch(batch_group& group) {
  std::string line = join_batch(group.answers) + '\n';
  n_.server_to_client(line.size());
  to_client_.push(std::move(line));
}

bool stdio_session::gather(const message_info& mi, std::string& raw) {
  auto it = batched_.find(mi.id);
  if (it == batched_.end()) return false;
  auto group = std::move(it->second);
  batched_.erase(it);
  group->answers.push_back(std::move(raw));
  if (--group->pending == 0) emit_batch(*group);
  return true;
}

net::awaitable<void> stdio_session::handle_client_line(std::string line) {
  if (blank_line(line)) co_return;
  message msg;
  classify_error err;
  if (!classify(std::move(line), msg, err)) {
    session_counters::add(err.code == rpc_error::parse_error ? n_.parse : n_.invalid);
    log_.warn("rejected client message: " + err.message);
    reply_error(err.id, err.code, err.message);
    co_return;
  }
  if (log_.enabled(log_level::trace))
    log_.trace(std::string("client -> server ") + to_string(msg.info.kind) + " " + msg.info.method +
               " id=" + msg.info.id);
  if (!rec_.hook(direction::client_to_server, msg.raw)) {
    begin_shutdown(hook_abort_reason);
    co_return;
  }
  n_.client_to_server(msg.raw.size() + 1);
  if (msg.info.kind != message_kind::batch) {
    if (admit(msg.info, nullptr)) {
      n_.in_flight.store(static_cast<std::uint32_t>(in_flight_.size()));
      co_await upstream_->send(std::move(msg));
    }
    co_return;
  }
  if (!batches_allowed(rec_.protocol_version())) {
    session_counters::add(n_.invalid);
    reply_error({}, rpc_error::invalid_request, batches_removed_text(rec_.protocol_version()));
    co_return;
  }
  if (msg.batch.size() > cfg_.max_batch) {
    session_counters::add(n_.invalid);
    reply_error({}, rpc_error::invalid_request,
                batch_too_large_text(msg.batch.size(), cfg_.max_batch));
    co_return;
  }
  std::vector<message> parts;
  if (!split_batch(msg, parts)) {
    session_counters::add(n_.parse);
    reply_error({}, rpc_error::parse_error, std::string(batch_split_text));
    co_return;
  }
  auto group = std::make_shared<batch_group>();
  std::vector<message> send;
  for (auto& part : parts)
    if (admit(part.info, group)) send.push_back(std::move(part));
  n_.in_flight.store(static_cast<std::uint32_t>(in_flight_.size()));
  if (group->pending == 0 && !group->answers.empty()) emit_batch(*group);  // all refused
  for (auto& m : send) co_await upstream_->send(std::move(m));
}

void stdio_session::on_server_rejected(const classify_error* err, std::string_view line) {
  if (err == nullptr) {
    session_counters::add(n_.server_oversize);
    log_.warn("dropped a server message over " + std::to_string(cfg_.max_message_bytes) + " bytes");
    return;
  }
  session_counters::add(n_.server_invalid);
  log_.warn("dropped a line from the server that is not JSON-RPC (" + err->message +
            "): " + preview(line));
}

net::awaitable<void> stdio_session::on_server_message(message msg) {
  if (!rec_.hook(direction::server_to_client, msg.raw)) {
    begin_shutdown(hook_abort_reason);
    co_return;
  }
  auto untrack = [&](const message_info& mi) {
    if (mi.kind != message_kind::response && mi.kind != message_kind::error) return;
    if (auto it = in_flight_.find(mi.id); it != in_flight_.end()) {
      metrics_.request_done(
          it->second.method,
          mi.kind == message_kind::error ? request_outcome::error : request_outcome::ok,
          std::chrono::steady_clock::now() - it->second.start);
      in_flight_.erase(it);
    }
    if (msg.info.kind != message_kind::batch) rec_.server_answer(mi, msg.raw);
  };
  if (msg.info.kind == message_kind::batch) {
    for (const auto& mi : msg.batch) untrack(mi);
  } else {
    untrack(msg.info);
  }
  n_.in_flight.store(static_cast<std::uint32_t>(in_flight_.size()));
  if (msg.info.kind != message_kind::batch && gather(msg.info, msg.raw)) co_return;
  msg.raw += '\n';
  n_.server_to_client(msg.raw.size());
  // Waits while the client is not keeping up: backpressure to the server.
  co_await to_client_.push_wait(std::move(msg.raw));
}

void stdio_session::begin_shutdown(const char* why) {
  if (shutting_down_) return;
  shutting_down_ = true;
  // The server's end, when it came first, is the reason (supervise set it).
  if (end_reason_.empty()) end_reason_ = why;
  if (rec_.state() != session_state::closed) rec_.set_state(session_state::draining);
  log_.debug(std::string("shutting down: ") + why);
  error_code ignored;
  client_in_.close(ignored);  // stop reading; cancels a pending read
  upstream_->stop(cfg_.shutdown_grace, shared_from_this());
}

void stdio_session::fail_in_flight(const std::string& reason) {
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, p] : in_flight_) {
    metrics_.request_done(p.method, request_outcome::closed, now - p.start);
    std::string err = make_error_response(id, rpc_error::upstream_error, reason);
    message_info mi;
    mi.id = id;
    session_counters::add(n_.proxy_replies);
    if (!gather(mi, err)) to_client_.push(std::move(err) + '\n');
  }
  in_flight_.clear();
  n_.in_flight.store(0);
}

net::awaitable<void> stdio_session::supervise() {
  // Whatever the server wrote before exiting is still in the pipe: it is
  // forwarded before the requests it left behind are answered.
  const std::chrono::steady_clock::duration drain = upstream_drain;
  upstream_end end = co_await upstream_->wait_end(drain);
  const bool server_first = !shutting_down_;
  if (server_first) end_reason_ = end.description;
  upstream_->close();
  bump(metrics_.upstream_exits[static_cast<std::size_t>(classify_exit(end.raw_status))]);
  metrics_.closed(server_first ? close_cause::upstream_ended : close_cause::client_disconnect);
  if (server_first)
    log_.warn(end.description);
  else
    log_.debug(end.description);
  fail_in_flight(end.description + " before responding");
  begin_shutdown("upstream server exited");
  to_client_.close_when_drained();
  const std::chrono::steady_clock::duration grace = cfg_.shutdown_grace;
  const bool flushed = co_await client_flushed_.wait_for(grace);
  if (!flushed) log_.warn("client is not reading: giving up on undelivered messages");
  // Nothing may outlive the session: a client that stopped reading would
  // otherwise keep a write pending.
  error_code ignored;
  client_out_.close(ignored);
  const int code = server_first ? end.exit_code : 0;
  rec_.ended(std::move(end.status), code);
  rec_.set_state(session_state::closed);
  log_.info("session stats: " + stats_json());
  if (cfg_.on_event) cfg_.on_event(event_kind::session_closed, "stdio", end_reason_);
  if (done_) done_(code, end_reason_);
}

}  // namespace mcpfwd
