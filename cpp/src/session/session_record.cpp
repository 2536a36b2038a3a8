#include "session/session_record.hpp"

namespace mcpfwd {

namespace {

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
std::int64_t wall_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

const char* to_string(session_state s) noexcept {
  switch (s) {
    case session_state::starting: return "starting";
    case session_state::ready: return "ready";
    case session_state::draining: return "draining";
    case session_state::closed: return "closed";
  }
  return "?";
}

const char* to_string(session_kind k) noexcept {
  switch (k) {
    case session_kind::stdio: return "stdio";
    case session_kind::streamable_http: return "streamable_http";
    case session_kind::legacy_sse: return "legacy_sse";
    case session_kind::stateless: return "stateless";
  }
  return "?";
}

std::uint64_t session_counters::errors() const noexcept {
  auto ld = [](const counter& c) { return c.load(std::memory_order_relaxed); };
  return ld(parse) + ld(invalid) + ld(oversize) + ld(server_invalid) + ld(server_oversize) +
         ld(timeouts);
}

session_record::session_record(std::string id, session_kind kind, const proxy_config& cfg)
    : id_(std::move(id)),
      kind_(kind),
      cfg_(cfg),
      created_(std::chrono::system_clock::now()),
      last_activity_ns_(steady_ns()),
      last_activity_ms_(wall_ms(created_)) {}

void session_record::touch() noexcept {
  last_activity_ns_.store(steady_ns(), std::memory_order_relaxed);
  last_activity_ms_.store(wall_ms(std::chrono::system_clock::now()), std::memory_order_relaxed);
}

bool session_record::idle_for(std::chrono::steady_clock::duration d) const noexcept {
  if (counters_.in_flight.load() > 0 || counters_.open_streams.load() > 0) return false;
  return steady_ns() - last_activity_ns_.load() >=
         std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

bool session_record::hook(direction dir, std::string_view raw) const {
  return !cfg_.on_message || cfg_.on_message(dir, id_, raw);
}

void session_record::server_answer(const message_info& mi, std::string_view raw) {
  if (init_id_.empty() || mi.id != init_id_) return;
  init_id_.clear();
  if (mi.kind != message_kind::response) return;
  protocol_version_ = protocol_version_of(raw);
  version_known_.store(true);
  if (cfg_.on_event) cfg_.on_event(event_kind::session_ready, id_, protocol_version_);
}

void session_record::set_protocol_version(std::string v) {
  if (version_known_.load()) return;
  protocol_version_ = std::move(v);
  version_known_.store(true);
}

void session_record::ended(std::string upstream_exit, int exit_code) {
  upstream_exit_ = std::move(upstream_exit);
  exit_code_.store(exit_code);
}

std::string session_record::snapshot_json(json::object upstream) const {
  auto ld = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  const session_counters& c = counters_;
  const session_state st = state_.load();
  json::object o;
  o["id"] = id_;
  o["kind"] = to_string(kind_);
  o["era"] = kind_ == session_kind::stateless ? "stateless" : "session";
  if (kind_ == session_kind::stateless)
    o["key"] = key_label_;
  else
    o["key"] = nullptr;
  if (!server_.empty())
    o["server"] = server_;
  else
    o["server"] = nullptr;
  o["state"] = to_string(st);
  o["protocol_version"] = version_known_.load() ? protocol_version_ : std::string();
  o["created_ms"] = wall_ms(created_);
  o["last_activity_ms"] = last_activity_ms_.load(std::memory_order_relaxed);
  if (const auto* pid = upstream.if_contains("pid"))
    o["upstream_pid"] = *pid;
  else
    o["upstream_pid"] = nullptr;
  o["upstream"] = std::move(upstream);
  o["client_to_server"] = {{"messages", ld(c.c2s_messages)}, {"bytes", ld(c.c2s_bytes)}};
  o["server_to_client"] = {{"messages", ld(c.s2c_messages)}, {"bytes", ld(c.s2c_bytes)}};
  o["in_flight"] = ld(c.in_flight);
  o["open_streams"] = ld(c.open_streams);
  o["errors"] = c.errors();
  o["error_counts"] = {{"parse", ld(c.parse)},
                       {"invalid", ld(c.invalid)},
                       {"oversize", ld(c.oversize)},
                       {"server_invalid", ld(c.server_invalid)},
                       {"server_oversize", ld(c.server_oversize)},
                       {"timeouts", ld(c.timeouts)}};
  o["dropped"] = ld(c.dropped);
  o["proxy_replies"] = ld(c.proxy_replies);
  if (st == session_state::closed)
    o["upstream_exit"] = upstream_exit_;
  else
    o["upstream_exit"] = nullptr;
  const int code = exit_code_.load();
  if (kind_ == session_kind::stdio && code >= 0)
    o["exit_code"] = code;
  else
    o["exit_code"] = nullptr;
  return json::serialize(o);
}

}  // namespace mcpfwd
