// Compiles the SWIG adapter (and through it the C++ layer of mcpfwd.hpp) on
// its own, with the project's strict warnings (-Wall -Wextra -Werror ...): the
// generated wrappers that include it are built with relaxed flags.
#include "mcpfwd_swig.hpp"

namespace {
struct CheckListener : mcpfwd::swig::Listener {
  bool onEvent(int, const std::string&, const std::string&) override { return true; }
  bool onMessage(int, const std::string&, const std::string&) override { return false; }
};
}  // namespace

// Instantiate the templates and inline members once.
void mcpfwd_swig_header_check() {
  mcpfwd::swig::Config cfg;
  (void)cfg.set("max-sessions", "5");
  (void)cfg.setUpstreamArgv(std::string("a\0b", 3));
  for (int i = 0; i < mcpfwd::swig::optionCount(); ++i) {
    const mcpfwd::swig::OptionInfo o = mcpfwd::swig::optionAt(i);
    (void)o.name();
    (void)o.optionType();
    (void)o.defaultValue();
    (void)o.help();
    (void)o.metavar();
    (void)o.choices();
    (void)o.modes();
    (void)o.cliFlag();
    (void)o.minValue();
    (void)o.maxValue();
  }
  mcpfwd::swig::Proxy proxy;
  (void)proxy.open(cfg, new CheckListener,
                   mcpfwd::swig::CALLBACK_EVENTS | mcpfwd::swig::CALLBACK_MESSAGES);
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
