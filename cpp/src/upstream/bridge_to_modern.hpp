// A session-era client in front of a server that serves only the stateless
// era (2026-07-28): an upstream that wraps the session's own upstream (a
// process, or a remote server) and bridges the two (docs/eras.md,
// "Bridging: legacy client, modern server"; the translations are in
// protocol/bridge_legacy_client.hpp).
//
// It decides on the client's first message. Anything but initialize (a
// stateless-era client): it passes everything through, untouched. An
// initialize with --upstream-era auto: the initialize goes to the server as
// it is; an answer -32022 naming only stateless-era versions switches to
// bridging, any other answer to pass-through. With --upstream-era modern it
// bridges at once (initialize is never sent). Bridging:
//   initialize            -> server/discover in the envelope; its answer
//                            becomes the initialize result
//   notifications/initialized, other client notifications -> dropped
//   ping                  -> answered here
//   logging/setLevel      -> answered here; the _meta log level of later
//                            requests ("debug" until then)
//   resources/(un)subscribe -> answered here, once the server acknowledged
//                            the session's one subscriptions/listen stream
//                            (list-changed interest + the subscribed URIs),
//                            reopened when the set changes
//   any other request     -> the envelope, under an id of mcpfwd's own
//   input_required result -> server-to-client requests to the client; the
//                            retry carries inputResponses and requestState
//   notifications/cancelled -> to the request's current upstream id
// Everything runs on the session's strand, like the wrapped upstream.
#pragma once
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/logger.hpp"
#include "config/config.hpp"
#include "protocol/bridge_legacy_client.hpp"
#include "upstream/upstream.hpp"

namespace mcpfwd {

class bridge_to_modern final : public upstream, private upstream::sink {
 public:
  bridge_to_modern(const session_strand& strand, std::unique_ptr<upstream> inner, upstream_era era,
                   const logger& log, std::string log_prefix);

  void start(std::shared_ptr<void> owner, upstream::sink& out) override;
  net::awaitable<void> send(message msg) override;
  void send_now(std::string raw) override;
  void stop(std::chrono::milliseconds grace, std::shared_ptr<void> owner) override {
    inner_->stop(grace, std::move(owner));
  }
  net::awaitable<upstream_end> wait_end(std::chrono::steady_clock::duration drain) override {
    return inner_->wait_end(drain);
  }
  void close() noexcept override { inner_->close(); }
  json::object describe() const override;
  void set_client_authorization(std::string_view v) override {
    inner_->set_client_authorization(v);
  }

 private:
  enum class mode : std::uint8_t { undecided, probing, passthrough, bridging };
  // A client request being served in the stateless era.
  struct call {
    std::string raw;          // the client's request as it came
    std::string upstream_id;  // its current upstream id ("" while the client answers)
    int rounds = 0;           // input_required rounds so far
    std::string state;        // the round's requestState (JSON text)
    std::vector<std::pair<std::string, std::string>> answers;  // key -> result (JSON)
    std::unordered_map<std::string, std::string> asked;        // our request id -> key
    std::uint64_t waiting = 0;  // while the client answers: its place in waiting_, else 0
  };

  net::awaitable<void> on_server_message(message msg) override;
  // In passthrough (final once reached) a message goes to the owner as is.
  bool delivers_now() const noexcept override {
    return mode_ == mode::passthrough && out_->delivers_now();
  }
  void on_server_message_now(message msg) override { out_->on_server_message_now(std::move(msg)); }
  void deliveries_begin() override { out_->deliveries_begin(); }
  void deliveries_end(bool now) override { out_->deliveries_end(now); }
  void on_server_rejected(const classify_error* err, std::string_view line) override {
    out_->on_server_rejected(err, line);
  }

  // Bridging: one client message; one server message (answers to the
  // client are returned, in order, for the caller to deliver).
  void from_client(message msg, std::vector<std::string>& to_client);
  void from_server(message msg, std::vector<std::string>& to_client);
  void start_bridging(const std::string& init_raw, const std::string& client_id);
  void to_server(std::string raw);  // without waiting
  void reopen_listen();
  void flush_acks(std::vector<std::string>& to_client);  // answers awaiting_ack_
  void end_call(const std::string& client_id);
  void input_required(const std::string& client_id, bridge_l2m::input_required ir,
                      std::vector<std::string>& to_client);
  void retry(const std::string& client_id);
  void stop_waiting(call& c);
  void bound_waiting(std::vector<std::string>& to_client);
  std::string next_id(std::string_view kind);
  net::awaitable<void> deliver(std::vector<std::string> to_client);

  session_strand strand_;
  std::unique_ptr<upstream> inner_;
  std::weak_ptr<void> owner_;  // the session, for answers produced by send_now()
  upstream_era era_;
  const logger& log_;
  std::string prefix_;
  upstream::sink* out_ = nullptr;
  // Written on the strand; read by describe(), from any thread.
  std::atomic<mode> mode_{mode::undecided};
  bool first_sent_ = false;  // the wrapped upstream has had a message (send, not send_now)
  std::string init_id_;      // the client's initialize (auto: its answer decides)
  std::string init_raw_;
  // Client messages while the initialize answer is awaited. Neither this nor
  // waiting_ is a std::deque, which allocates about 0.5 KiB when constructed:
  // every session has a bridge, and most never use either.
  std::vector<message> held_;
  bridge_l2m::client_handshake hs_;
  std::string log_level_{bridge_l2m::default_log_level};
  std::uint64_t counter_ = 0;
  std::string discover_id_, listen_id_;
  bridge_l2m::listen_filter interest_;  // list-changed interest from discover
  std::set<std::string> uris_;          // resources/subscribe
  // (Un)subscribe requests answered once the listen stream that carries the
  // new set is acknowledged (or ends).
  std::vector<std::string> awaiting_ack_;
  std::unordered_map<std::string, std::string> by_upstream_;  // upstream id -> client id
  std::unordered_map<std::string, std::string> by_input_;     // our request id -> client id
  std::unordered_map<std::string, call> calls_;               // client id -> call
  // The calls waiting for the client's answers, oldest first: (client id, the
  // call's `waiting` mark; entries whose call moved on are skipped). Beyond
  // max_waiting_calls the oldest is answered with an error and forgotten, so
  // a client that never answers cannot grow the session without bound.
  std::list<std::pair<std::string, std::uint64_t>> waiting_;
  std::size_t n_waiting_ = 0;
};

}  // namespace mcpfwd
