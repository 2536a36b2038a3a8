#include "server/metrics_text.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "session/session_record.hpp"

namespace mcpfwd {

namespace {

void append_escaped(std::string& out, std::string_view v, bool label) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && label)
      out += "\\\"";
    else
      out += c;
  }
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  // Shortest form that reads back the same (0.1, not 0.10000000000000001).
  for (int prec = 1; prec < 17; ++prec) {
    char shorter[32];
    std::snprintf(shorter, sizeof shorter, "%.*g", prec, v);
    if (std::strtod(shorter, nullptr) == v) return shorter;
  }
  return buf;
}

}  // namespace

void prom_text::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void prom_text::head(std::string_view name, labels l, std::string_view extra_name,
                     std::string_view extra_value) {
  out_ += name;
  if (l.size() == 0 && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    append_escaped(out_, v, true);
    out_ += '"';
  };
  for (const auto& [k, v] : l) one(k, v);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out_ += '}';
}

void prom_text::sample(std::string_view name, labels l, std::uint64_t v) {
  head(name, l);
  out_ += ' ';
  out_ += std::to_string(v);
  out_ += '\n';
}

void prom_text::sample(std::string_view name, labels l, double v) {
  head(name, l);
  out_ += ' ';
  out_ += number(v);
  out_ += '\n';
}

void prom_text::histogram(std::string_view name, labels l, const latency_histogram& h) {
  const std::string n(name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += read(h.buckets[i]);
    const std::string le = i < h.bounds.size() ? number(h.bounds[i]) : "+Inf";
    head(n + "_bucket", l, "le", le);
    out_ += ' ';
    out_ += std::to_string(cumulative);
    out_ += '\n';
  }
  head(n + "_sum", l);
  out_ += ' ';
  out_ += number(static_cast<double>(read(h.sum_us)) / 1e6);
  out_ += '\n';
  head(n + "_count", l);
  out_ += ' ';
  out_ += std::to_string(cumulative);
  out_ += '\n';
}

void write_metrics(prom_text& out, const proxy_metrics& m) {
  out.family("mcpfwd_sessions_opened_total", "counter", "Sessions opened, by kind.");
  for (std::size_t k = 0; k < kind_count; ++k)
    out.sample("mcpfwd_sessions_opened_total", {{"kind", to_string(static_cast<session_kind>(k))}},
               read(m.sessions_opened[k]));
  out.family("mcpfwd_sessions_closed_total", "counter", "Sessions that began to close, by reason.");
  for (std::size_t c = 0; c < m.sessions_closed.size(); ++c)
    out.sample("mcpfwd_sessions_closed_total", {{"reason", to_string(static_cast<close_cause>(c))}},
               read(m.sessions_closed[c]));
  out.family("mcpfwd_sessions_reaped_total", "counter",
             "Idle sessions closed by the reaper (--idle-timeout-ms).");
  out.sample("mcpfwd_sessions_reaped_total", {}, read(m.sessions_reaped));

  const auto methods = metric_methods();
  out.family("mcpfwd_requests_total", "counter",
             "Client requests that ended, by method (other: not an MCP method) and outcome.");
  for (std::size_t i = 0; i < methods.size(); ++i)
    for (std::size_t o = 0; o < m.requests[i].size(); ++o)
      out.sample("mcpfwd_requests_total",
                 {{"method", methods[i]}, {"outcome", to_string(static_cast<request_outcome>(o))}},
                 read(m.requests[i][o]));
  out.family("mcpfwd_request_duration_seconds", "histogram",
             "From forwarding a client request to its end (answer, error, timeout), by method.");
  for (std::size_t i = 0; i < methods.size(); ++i)
    out.histogram("mcpfwd_request_duration_seconds", {{"method", methods[i]}}, m.latency[i]);

  out.family("mcpfwd_upstream_spawns_total", "counter", "Upstream server processes spawned.");
  out.sample("mcpfwd_upstream_spawns_total", {}, read(m.upstream_spawns));
  out.family("mcpfwd_upstream_spawn_failures_total", "counter",
             "Upstream server processes that could not be spawned.");
  out.sample("mcpfwd_upstream_spawn_failures_total", {}, read(m.upstream_spawn_failures));
  out.family("mcpfwd_upstream_exits_total", "counter",
             "Upstreams that ended, by how: a process's exit status class, or remote.");
  for (std::size_t c = 0; c < m.upstream_exits.size(); ++c)
    out.sample("mcpfwd_upstream_exits_total", {{"status", to_string(static_cast<exit_class>(c))}},
               read(m.upstream_exits[c]));
  out.family("mcpfwd_config_reloads_total", "counter",
             "Reloads of the config file, by outcome (error: the old configuration stays).");
  out.sample("mcpfwd_config_reloads_total", {{"outcome", "ok"}}, read(m.config_reloads_ok));
  out.sample("mcpfwd_config_reloads_total", {{"outcome", "error"}}, read(m.config_reloads_failed));
}

}  // namespace mcpfwd
