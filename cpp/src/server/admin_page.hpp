// The admin listener's page (GET /): cpp/src/server/admin_page.html, compiled
// in at build time (embed_page.cmake), served with a Content-Security-Policy
// that allows its own inline script and style (by their sha256 digests) and
// requests to its own origin, nothing else.
#pragma once
#include <string>
#include <string_view>

namespace mcpfwd {

// admin_page.html as it is (defined in the generated admin_page_data.cpp).
extern const std::string_view admin_page_source;

struct admin_page {
  std::string_view html;
  std::string csp;  // the Content-Security-Policy header's value
};
// Built once, on first use; thread-safe.
const admin_page& the_admin_page();

}  // namespace mcpfwd
