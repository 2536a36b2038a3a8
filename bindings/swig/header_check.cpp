// Compiles the hand-written C++ layer of the SWIG bindings on its own, with
// the project's strict warnings (-Wall -Wextra -Werror ...): the generated
// wrappers that include it are built with relaxed flags.
#include "mcpfwd_swig.hpp"

namespace {
struct CheckListener : mcpfwd::swig::Listener {
  void onEvent(int, const std::string&, const std::string&) override {}
};
}  // namespace

// Instantiate the templates and inline members once.
void mcpfwd_swig_header_check() {
  mcpfwd::swig::Config cfg;
  (void)cfg.setUpstreamArgv(std::string("a\0b", 3));
  mcpfwd::swig::Proxy proxy;
  (void)proxy.open(cfg, new CheckListener, mcpfwd::swig::CALLBACK_EVENTS);
  std::string s;
  (void)proxy.url(&s);
  (void)proxy.sessionsJson(&s);
  (void)proxy.sessionJson("x", &s);
  (void)proxy.statsJson(&s);
  (void)proxy.statusText(&s);
  (void)proxy.closeSession("x");
  (void)proxy.start();
  (void)proxy.stop();
  (void)proxy.wait(0);
  proxy.close();
  (void)mcpfwd::swig::last_error();
  (void)mcpfwd::swig::status_string(0);
}
