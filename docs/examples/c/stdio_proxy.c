/* A complete stdio MCP proxy in C on libmcpfwd: serves the client on this
 * program's stdin/stdout, in front of the server command given as arguments.
 *
 *   cc stdio_proxy.c -I<capi/include> -I<build>/include -L<build>/lib -lmcpfwd -o stdio_proxy
 *   ./stdio_proxy python my_server.py
 */
#include <mcpfwd/mcpfwd.h>
#include <stdio.h>

static void on_log(mcpfwd_log_level level, const char *source, const char *text, size_t len,
                   void *user_data) {
  (void)user_data;
  fprintf(stderr, "[%s/%d] %.*s\n", source, (int)level, (int)len, text);
}

int main(int argc, char **argv) {
  mcpfwd_config *cfg = NULL;
  mcpfwd_proxy *proxy = NULL;
  char *stats = NULL;
  int exit_code = 70;

  if (argc < 2) {
    fprintf(stderr, "usage: %s SERVER_COMMAND [ARGS...]\n", argv[0]);
    return 2;
  }
  if (mcpfwd_config_new(&cfg) != MCPFWD_OK ||
      mcpfwd_config_set_downstream_stdio(cfg, 0, 1) != MCPFWD_OK ||
      mcpfwd_config_set_upstream_command(cfg, (size_t)(argc - 1),
                                         (const char *const *)(argv + 1)) != MCPFWD_OK ||
      mcpfwd_config_set_log_cb(cfg, on_log) != MCPFWD_OK ||
      mcpfwd_proxy_new(&proxy, cfg) != MCPFWD_OK) {
    fprintf(stderr, "config: %s\n", mcpfwd_last_error());
    mcpfwd_config_free(cfg);
    return 2;
  }
  mcpfwd_config_free(cfg); /* the proxy keeps its own copy */

  if (mcpfwd_proxy_start(proxy) != MCPFWD_OK) {
    fprintf(stderr, "start: %s\n", mcpfwd_last_error());
    mcpfwd_proxy_free(proxy);
    return 70;
  }
  /* Runs until the client closes stdin (or the server exits). */
  if (mcpfwd_proxy_wait(proxy, -1, &exit_code) == MCPFWD_OK &&
      mcpfwd_proxy_stats_json(proxy, &stats) == MCPFWD_OK) {
    fprintf(stderr, "stats: %s\n", stats);
    mcpfwd_string_free(stats);
  }
  mcpfwd_proxy_free(proxy);
  return exit_code;
}
