#include "upstream/bridge_to_modern.hpp"

#include <boost/json.hpp>

#include "base/spawn.hpp"
#include "protocol/era.hpp"

namespace mcpfwd {

namespace l2m = bridge_l2m;

namespace {

// An input_required loop that never ends is the server's bug: stop it.
constexpr int max_rounds = 32;
// Calls of one session waiting for its client's answers at once.
constexpr std::size_t max_waiting_calls = 1024;

message make_message(std::string raw) {
  message m;
  classify_error err;
  classify(std::move(raw), m, err);
  return m;
}

std::string cancelled(const std::string& id_json, std::string_view reason) {
  json::object params;
  params["requestId"] = json::parse(id_json);
  params["reason"] = json::string_view(reason.data(), reason.size());
  json::object n;
  n["jsonrpc"] = "2.0";
  n["method"] = "notifications/cancelled";
  n["params"] = std::move(params);
  return json::serialize(n);
}

}  // namespace

bridge_to_modern::bridge_to_modern(const session_strand& strand, std::unique_ptr<upstream> inner,
                                   upstream_era era, const logger& log, std::string log_prefix)
    : strand_(strand),
      inner_(std::move(inner)),
      era_(era),
      log_(log),
      prefix_(std::move(log_prefix)) {}

void bridge_to_modern::start(std::shared_ptr<void> owner, upstream::sink& out) {
  out_ = &out;
  owner_ = owner;
  inner_->start(std::move(owner), *this);
}

json::object bridge_to_modern::describe() const {
  json::object o = inner_->describe();
  if (mode_ == mode::bridging) o["bridge"] = "legacy client, modern server";
  return o;
}

std::string bridge_to_modern::next_id(std::string_view kind) {
  return "\"mcpfwd-" + std::string(kind) + "-" + std::to_string(++counter_) + "\"";
}

void bridge_to_modern::to_server(std::string raw) {
  if (!raw.empty()) inner_->send_now(std::move(raw));
}

net::awaitable<void> bridge_to_modern::deliver(std::vector<std::string> to_client) {
  for (auto& raw : to_client) {
    message m;
    classify_error err;
    if (classify(std::move(raw), m, err)) co_await out_->on_server_message(std::move(m));
  }
}

// ------------------------------------------------------------ client side

net::awaitable<void> bridge_to_modern::send(message msg) {
  switch (mode_) {
    case mode::undecided: {
      const bool init = msg.info.kind == message_kind::request && msg.info.method == "initialize";
      if (!init) {
        mode_ = mode::passthrough;  // a stateless-era client, or one that skips the handshake
        co_await inner_->send(std::move(msg));
        co_return;
      }
      if (era_ == upstream_era::modern) {
        // Configured: bridge without trying initialize (the server never sees one).
        mode_ = mode::bridging;
        log_.info(prefix_ + "bridging a session-era client to the stateless-era server");
        init_id_ = msg.info.id;
        hs_ = l2m::parse_initialize(msg.raw).value_or(l2m::client_handshake{});
        discover_id_ = next_id("discover");
        // The wrapped upstream's first message is awaited (a remote one
        // settles its era on it); later ones go without waiting.
        co_await inner_->send(make_message(l2m::discover_request(discover_id_, hs_)));
        co_return;
      }
      mode_ = mode::probing;
      init_id_ = msg.info.id;
      init_raw_ = msg.raw;
      co_await inner_->send(std::move(msg));
      co_return;
    }
    case mode::probing: held_.push_back(std::move(msg)); co_return;
    case mode::passthrough: co_await inner_->send(std::move(msg)); co_return;
    case mode::bridging: {
      std::vector<std::string> out;
      from_client(std::move(msg), out);
      co_await deliver(std::move(out));
      co_return;
    }
  }
}

void bridge_to_modern::send_now(std::string raw) {
  if (mode_ != mode::bridging) {
    inner_->send_now(std::move(raw));
    return;
  }
  // The session's own messages: a cancellation, or an error for a server
  // request its client will never see; the latter ends the call it belongs
  // to, whose answer goes to the client once this returns.
  std::vector<std::string> out;
  from_client(make_message(std::move(raw)), out);
  if (out.empty()) return;
  auto owner = owner_.lock();
  if (!owner) return;
  net::co_spawn(
      strand_,
      [this, owner, out = std::move(out)]() mutable -> net::awaitable<void> {
        co_await deliver(std::move(out));
      },
      log_failure(log_, prefix_ + "the bridge's answers"));
}

void bridge_to_modern::start_bridging(const std::string& init_raw, const std::string& client_id) {
  init_id_ = client_id;
  hs_ = l2m::parse_initialize(init_raw).value_or(l2m::client_handshake{});
  discover_id_ = next_id("discover");
  to_server(l2m::discover_request(discover_id_, hs_));
}

void bridge_to_modern::from_client(message msg, std::vector<std::string>& out) {
  const message_info& mi = msg.info;
  switch (mi.kind) {
    case message_kind::batch: {
      std::vector<message> parts;
      if (split_batch(msg, parts))
        for (auto& p : parts) from_client(std::move(p), out);
      return;
    }
    case message_kind::request: {
      if (mi.method == "initialize") {
        start_bridging(msg.raw, mi.id);
      } else if (mi.method == "ping") {
        out.push_back(l2m::empty_result(mi.id));
      } else if (mi.method == "logging/setLevel") {
        log_level_ = l2m::request_level(msg.raw);
        out.push_back(l2m::empty_result(mi.id));
      } else if (mi.method == "resources/subscribe" || mi.method == "resources/unsubscribe") {
        const std::string uri = l2m::request_uri(msg.raw);
        const bool changed =
            mi.method == "resources/subscribe" ? uris_.insert(uri).second : uris_.erase(uri) > 0;
        if (changed && !uri.empty()) reopen_listen();
        // Subscribed means updates will come: the answer waits for the new
        // stream's acknowledgement (over HTTP it is a POST of its own).
        if (changed && !listen_id_.empty())
          awaiting_ack_.push_back(mi.id);
        else
          out.push_back(l2m::empty_result(mi.id));
      } else {
        const std::string uid = next_id("req");
        std::string env = l2m::enveloped_request(msg.raw, uid, hs_, log_level_);
        if (env.empty()) {
          out.push_back(make_error_response(mi.id, rpc_error::invalid_request,
                                            "mcpfwd: the request cannot be bridged"));
          return;
        }
        call& c = calls_[mi.id];
        c = call{};
        c.raw = std::move(msg.raw);
        c.upstream_id = uid;
        by_upstream_[uid] = mi.id;
        to_server(std::move(env));
      }
      return;
    }
    case message_kind::response:
    case message_kind::error: {
      auto it = by_input_.find(mi.id);
      if (it == by_input_.end()) {
        log_.debug(prefix_ + "bridge: an answer to no input request, id " + mi.id + ": dropped");
        return;
      }
      const std::string cid = it->second;
      by_input_.erase(it);
      auto c = calls_.find(cid);
      if (c == calls_.end()) return;
      const std::string key = c->second.asked[mi.id];
      c->second.asked.erase(mi.id);
      if (mi.kind == message_kind::error) {
        // The client refused (a refusal by the user is a result, not this).
        out.push_back(
            make_error_response(cid, rpc_error::upstream_error,
                                "mcpfwd: the client answered the server's input request \"" + key +
                                    "\" with an error: " + l2m::error_message(msg.raw)));
        end_call(cid);
        return;
      }
      c->second.answers.emplace_back(key, l2m::result_text(msg.raw));
      if (c->second.asked.empty()) retry(cid);
      return;
    }
    case message_kind::notification: {
      if (mi.method != "notifications/cancelled") return;  // initialized, roots changed, ...
      auto c = calls_.find(mi.cancels);
      if (c == calls_.end()) return;
      if (!c->second.upstream_id.empty())
        to_server(with_cancelled_id(msg.raw, c->second.upstream_id));
      end_call(mi.cancels);
      return;
    }
  }
}

void bridge_to_modern::end_call(const std::string& client_id) {
  auto c = calls_.find(client_id);
  if (c == calls_.end()) return;
  stop_waiting(c->second);
  if (!c->second.upstream_id.empty()) by_upstream_.erase(c->second.upstream_id);
  for (const auto& [iid, key] : c->second.asked) by_input_.erase(iid);
  calls_.erase(c);
}

void bridge_to_modern::retry(const std::string& client_id) {
  call& c = calls_.at(client_id);
  stop_waiting(c);
  const std::string uid = next_id("req");
  c.upstream_id = uid;
  by_upstream_[uid] = client_id;
  to_server(
      l2m::enveloped_request(c.raw, uid, hs_, log_level_, l2m::retry_params(c.answers, c.state)));
}

void bridge_to_modern::stop_waiting(call& c) {
  if (c.waiting == 0) return;
  c.waiting = 0;
  --n_waiting_;
}

void bridge_to_modern::bound_waiting(std::vector<std::string>& out) {
  while (n_waiting_ > max_waiting_calls && !waiting_.empty()) {
    auto [cid, mark] = std::move(waiting_.front());
    waiting_.pop_front();
    auto c = calls_.find(cid);
    if (c == calls_.end() || c->second.waiting != mark) continue;  // it moved on
    out.push_back(make_error_response(
        cid, rpc_error::upstream_error,
        "mcpfwd: more than " + std::to_string(max_waiting_calls) +
            " calls of this session wait for the client's input; the oldest is abandoned"));
    end_call(cid);
  }
  // Entries of calls that moved on, dropped from time to time.
  if (waiting_.size() > 2 * max_waiting_calls)
    std::erase_if(waiting_, [this](const auto& w) {
      auto c = calls_.find(w.first);
      return c == calls_.end() || c->second.waiting != w.second;
    });
}

void bridge_to_modern::reopen_listen() {
  if (!listen_id_.empty()) {
    to_server(cancelled(listen_id_, "mcpfwd: the session's subscriptions changed"));
    listen_id_.clear();
  }
  l2m::listen_filter f = interest_;
  f.uris.assign(uris_.begin(), uris_.end());
  if (f.empty()) return;
  listen_id_ = next_id("listen");
  to_server(l2m::listen_request(listen_id_, hs_, f));
}

// ------------------------------------------------------------ server side

net::awaitable<void> bridge_to_modern::on_server_message(message msg) {
  if (mode_ == mode::probing && !init_id_.empty() && msg.info.id == init_id_ &&
      (msg.info.kind == message_kind::response || msg.info.kind == message_kind::error)) {
    if (msg.info.kind == message_kind::error && l2m::refuses_handshake(msg.raw)) {
      mode_ = mode::bridging;
      log_.info(prefix_ +
                "the server refused initialize naming only stateless-era versions: bridging");
      start_bridging(init_raw_, init_id_);
      init_raw_.clear();
      std::vector<std::string> out;
      for (auto& m : std::exchange(held_, {})) from_client(std::move(m), out);
      co_await deliver(std::move(out));
      co_return;
    }
    mode_ = mode::passthrough;
    init_raw_.clear();
    co_await out_->on_server_message(std::move(msg));
    for (auto& m : std::exchange(held_, {})) co_await inner_->send(std::move(m));
    co_return;
  }
  if (mode_ != mode::bridging) {
    co_await out_->on_server_message(std::move(msg));
    co_return;
  }
  std::vector<std::string> out;
  from_server(std::move(msg), out);
  co_await deliver(std::move(out));
}

void bridge_to_modern::from_server(message msg, std::vector<std::string>& out) {
  const message_info& mi = msg.info;
  switch (mi.kind) {
    case message_kind::batch: {
      std::vector<message> parts;
      if (split_batch(msg, parts))
        for (auto& p : parts) from_server(std::move(p), out);
      return;
    }
    case message_kind::response:
    case message_kind::error: {
      if (!discover_id_.empty() && mi.id == discover_id_) {
        discover_id_.clear();
        out.push_back(l2m::initialize_answer(msg.raw, init_id_, hs_));
        if (mi.kind == message_kind::response) {
          interest_ = l2m::list_changed_interest(msg.raw);
          reopen_listen();
        }
        return;
      }
      if (!listen_id_.empty() && mi.id == listen_id_) {
        log_.debug(prefix_ + "bridge: the server ended the session's listen stream" +
                   (mi.kind == message_kind::error ? ": " + l2m::error_message(msg.raw) : ""));
        listen_id_.clear();
        flush_acks(out);
        return;
      }
      auto it = by_upstream_.find(mi.id);
      if (it == by_upstream_.end()) return;  // a cancelled call, an old listen stream
      const std::string cid = it->second;
      by_upstream_.erase(it);
      auto c = calls_.find(cid);
      if (c == calls_.end()) return;
      c->second.upstream_id.clear();
      if (mi.kind == message_kind::response)
        if (auto ir = l2m::parse_input_required(msg.raw)) {
          input_required(cid, std::move(*ir), out);
          return;
        }
      out.push_back(l2m::client_answer(msg.raw, cid));
      calls_.erase(c);
      return;
    }
    case message_kind::request:  // the stateless era has none
      to_server(make_error_response(mi.id, rpc_error::method_not_found,
                                    "mcpfwd: a server request in the stateless era"));
      return;
    case message_kind::notification: {
      const std::string sub = subscription_id_of(msg.raw);
      if (!sub.empty() || mi.method == "notifications/subscriptions/acknowledged") {
        if (sub != listen_id_) return;  // an old stream's last words
        if (mi.method == "notifications/subscriptions/acknowledged") flush_acks(out);
        std::string n = l2m::listen_notification(msg.raw);
        if (!n.empty()) out.push_back(std::move(n));
        return;
      }
      out.push_back(std::move(msg.raw));  // progress, log lines
      return;
    }
  }
}

void bridge_to_modern::flush_acks(std::vector<std::string>& out) {
  for (const auto& id : awaiting_ack_) out.push_back(l2m::empty_result(id));
  awaiting_ack_.clear();
}

void bridge_to_modern::input_required(const std::string& client_id, l2m::input_required ir,
                                      std::vector<std::string>& out) {
  call& c = calls_.at(client_id);
  if (++c.rounds > max_rounds) {
    out.push_back(make_error_response(
        client_id, rpc_error::upstream_error,
        "mcpfwd: the server asked for input " + std::to_string(max_rounds) + " times; giving up"));
    end_call(client_id);
    return;
  }
  for (const auto& [key, req] : ir.requests) {
    const std::string method = l2m::input_method(req);
    if (!l2m::client_declares(hs_, method)) {
      out.push_back(make_error_response(
          client_id, rpc_error::missing_capability,
          "mcpfwd: the server needs the client's " + method +
              " (input_required), a capability the client did not declare in initialize"));
      end_call(client_id);
      return;
    }
  }
  c.state = std::move(ir.request_state);
  c.answers.clear();
  c.asked.clear();
  if (ir.requests.empty()) {
    retry(client_id);
    return;
  }
  for (const auto& [key, req] : ir.requests) {
    const std::string iid = next_id("input");
    by_input_[iid] = client_id;
    c.asked[iid] = key;
    out.push_back(l2m::server_request(iid, req));
  }
  c.waiting = ++counter_;
  ++n_waiting_;
  waiting_.emplace_back(client_id, c.waiting);
  bound_waiting(out);
}

}  // namespace mcpfwd
