// The Prometheus text exposition format (version 0.0.4), written family by
// family: `# HELP` and `# TYPE` once, then the samples. Label values are
// escaped as the format says (backslash, double quote, newline).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "base/metrics.hpp"

namespace mcpfwd {

class prom_text {
 public:
  using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, labels l, std::uint64_t v);
  void sample(std::string_view name, labels l, double v);
  // A histogram's _bucket (cumulative, le="..."), _sum and _count samples,
  // with `l` and le as its labels.
  void histogram(std::string_view name, labels l, const latency_histogram& h);

  const std::string& text() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }

 private:
  void head(std::string_view name, labels l, std::string_view extra_name = {},
            std::string_view extra_value = {});
  std::string out_;
};

// The proxy-wide counters of `m` (sessions opened and closed, requests,
// latency, upstream spawns and exits).
void write_metrics(prom_text& out, const proxy_metrics& m);

}  // namespace mcpfwd
