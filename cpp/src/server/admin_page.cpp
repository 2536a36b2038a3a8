#include "server/admin_page.hpp"

#include <openssl/evp.h>

namespace mcpfwd {

namespace {

// The text between the first `open` and the next `close`, or "" when absent.
std::string_view element_text(std::string_view html, std::string_view open,
                              std::string_view close) {
  const auto a = html.find(open);
  if (a == std::string_view::npos) return {};
  const auto b = html.find(close, a + open.size());
  if (b == std::string_view::npos) return {};
  return html.substr(a + open.size(), b - a - open.size());
}

// A CSP source expression for `text`: 'sha256-BASE64'.
std::string sha256_source(std::string_view text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(b64, md, static_cast<int>(len));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64), static_cast<std::size_t>(n)) +
         "'";
}

}  // namespace

const admin_page& the_admin_page() {
  static const admin_page page = [] {
    admin_page p;
    p.html = admin_page_source;
    p.csp = "default-src 'none'; script-src " +
            sha256_source(element_text(p.html, "<script>", "</script>")) + "; style-src " +
            sha256_source(element_text(p.html, "<style>", "</style>")) +
            "; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'";
    return p;
  }();
  return page;
}

}  // namespace mcpfwd
