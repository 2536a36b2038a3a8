/* Tests of the C ABI's documented guarantees, compiled as C99. */
#include <mcpfwd/mcpfwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

static int freed = 0;
static void free_ud(void *ud) {
  freed += (ud == &freed);
}

/* Message hook state: both directions seen, with the session id and bytes. */
static int msg_c2s = 0, msg_s2c = 0, msg_bytes_ok = 0;
static int on_message(const mcpfwd_message *m, void *ud) {
  size_t len = 0;
  const char *bytes = mcpfwd_message_bytes(m, &len);
  (void)ud;
  if (strcmp(mcpfwd_message_session_id(m), "stdio") != 0) return 0;
  if (mcpfwd_message_direction(m) == MCPFWD_CLIENT_TO_SERVER) ++msg_c2s;
  if (mcpfwd_message_direction(m) == MCPFWD_SERVER_TO_CLIENT) ++msg_s2c;
  msg_bytes_ok += len == 34 && memcmp(bytes, "{\"jsonrpc\":\"2.0\",\"method\":\"hello\"}", 34) == 0;
  return 0;
}

/* free from inside a callback: returns at once; the proxy goes away later */
static int freed_from_cb = 0; /* set on the freeing thread: atomic access */
static void free_from_cb_ud(void *ud) {
  (void)ud;
  __atomic_store_n(&freed_from_cb, 1, __ATOMIC_SEQ_CST);
}
static int free_in_callback(const mcpfwd_event *ev, void *ud) {
  if (mcpfwd_event_get_type(ev) == MCPFWD_EVENT_SESSION_CLOSED)
    mcpfwd_proxy_free(*(mcpfwd_proxy **)ud);
  return 0;
}

/* Event callback state: what arrived, and what the API said from inside. */
static int opened = 0, closed = 0, state_inside = 0, stop_inside = 0;
static char close_reason[256];
static int on_event(const mcpfwd_event *ev, void *ud) {
  mcpfwd_proxy *p = *(mcpfwd_proxy **)ud;
  char *s = NULL;
  size_t len = 0;
  const char *detail = mcpfwd_event_detail(ev, &len);
  if (strcmp(mcpfwd_event_session_id(ev), "stdio") != 0) return 0;
  if (mcpfwd_event_get_type(ev) == MCPFWD_EVENT_SESSION_OPENED) {
    ++opened;
    /* only event accessors and stop are allowed in here */
    state_inside = mcpfwd_proxy_stats_json(p, &s) == MCPFWD_E_STATE && s == NULL;
    stop_inside = mcpfwd_proxy_stop(p) == MCPFWD_OK;
  } else if (mcpfwd_event_get_type(ev) == MCPFWD_EVENT_SESSION_CLOSED) {
    ++closed;
    if (len >= sizeof close_reason) len = sizeof close_reason - 1;
    memcpy(close_reason, detail, len);
    close_reason[len] = '\0';
  }
  return 0;
}

static void free_ud_counter(void *ud) {
  ++*(int *)ud;
}

int main(void) {
  mcpfwd_config *cfg = NULL;
  mcpfwd_proxy *p = NULL;
  char *stats = NULL;
  int fds[2], code = -1;
  const char *argv_cat[] = {"cat"};
  const char *argv_bad[] = {"/nonexistent/mcp-server"};

  /* version: macro and runtime agree */
  CHECK(mcpfwd_version() == MCPFWD_VERSION_NUMBER);
  CHECK(strcmp(mcpfwd_version_string(), MCPFWD_VERSION_STRING) == 0);
  CHECK(MCPFWD_VERSION_AT_LEAST(0, 0, 1));

  /* status text is static and never NULL */
  CHECK(strcmp(mcpfwd_status_str(MCPFWD_OK), "ok") == 0);
  CHECK(mcpfwd_status_str((mcpfwd_status)12345) != NULL);
  CHECK(mcpfwd_last_error() != NULL);

  /* free(NULL) is fine */
  mcpfwd_config_free(NULL);
  mcpfwd_proxy_free(NULL);
  mcpfwd_string_free(NULL);

  /* NULL out-parameters and bad values fail with text */
  CHECK(mcpfwd_config_new(NULL) == MCPFWD_E_INVALID_ARG);
  CHECK(strlen(mcpfwd_last_error()) > 0);
  CHECK(mcpfwd_config_new(&cfg) == MCPFWD_OK);
  CHECK(strcmp(mcpfwd_last_error(), "") == 0);
  CHECK(mcpfwd_config_set_downstream_stdio(cfg, -1, 1) == MCPFWD_E_INVALID_ARG);
  CHECK(mcpfwd_config_set_max_message_bytes(cfg, 3) == MCPFWD_E_INVALID_ARG);
  CHECK(mcpfwd_config_set_upstream_command(cfg, 0, argv_cat) == MCPFWD_E_INVALID_ARG);

  /* a config without upstream cannot make a proxy; *out is NULL on failure */
  p = (mcpfwd_proxy *)&freed;
  CHECK(mcpfwd_proxy_new(&p, cfg) == MCPFWD_E_INVALID_ARG);
  CHECK(p == NULL);
  CHECK(strstr(mcpfwd_last_error(), "upstream") != NULL);

  /* remote upstream options: checked by the setters, or when the proxy is made */
  {
    mcpfwd_config *rc = NULL;
    CHECK(mcpfwd_config_new(&rc) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_listen(rc, "127.0.0.1", 0) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_pool_max(rc, 1) == MCPFWD_E_INVALID_ARG);
    CHECK(mcpfwd_config_set_upstream_transport(rc, (mcpfwd_upstream_transport)7) ==
          MCPFWD_E_INVALID_ARG);
    CHECK(mcpfwd_config_add_upstream_header(rc, "", "x") == MCPFWD_E_INVALID_ARG);
    CHECK(mcpfwd_config_set_upstream_env(rc, "A=B", "x") == MCPFWD_E_INVALID_ARG);
    CHECK(mcpfwd_config_set_upstream_url(rc, "ftp://127.0.0.1/mcp") == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&p, rc) == MCPFWD_E_INVALID_ARG); /* not http(s) */
    CHECK(strstr(mcpfwd_last_error(), "http://") != NULL);
    CHECK(mcpfwd_config_set_upstream_url(rc, "http://127.0.0.1:1/mcp") == MCPFWD_OK);
    CHECK(mcpfwd_config_add_upstream_header(rc, "Host", "evil") == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&p, rc) == MCPFWD_E_INVALID_ARG); /* a header of mcpfwd's own */
    CHECK(strstr(mcpfwd_last_error(), "Host") != NULL);
    mcpfwd_config_free(rc);
    CHECK(mcpfwd_config_new(&rc) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_listen(rc, "127.0.0.1", 0) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_url(rc, "http://127.0.0.1:1/mcp") == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_command(rc, 1, argv_cat) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&p, rc) == MCPFWD_E_INVALID_ARG); /* both a command and a URL */
    CHECK(strstr(mcpfwd_last_error(), "choose one upstream") != NULL);
    CHECK(mcpfwd_config_set_upstream_url(rc, NULL) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_cwd(rc, "/nonexistent/mcpfwd-dir") == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&p, rc) == MCPFWD_E_INVALID_ARG); /* the directory must exist */
    CHECK(strstr(mcpfwd_last_error(), "working directory") != NULL);
    CHECK(mcpfwd_config_set_upstream_cwd(rc, "/") == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_env(rc, "MCPFWD_C_TEST", "1") == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_env(rc, "MCPFWD_C_TEST", NULL) == MCPFWD_OK);
    CHECK(mcpfwd_config_clear_upstream_env(rc) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&p, rc) == MCPFWD_OK);
    mcpfwd_proxy_free(p);
    p = NULL;
    mcpfwd_config_free(rc);
  }

  /* a command that does not exist fails at start with an I/O status */
  CHECK(pipe(fds) == 0);
  CHECK(mcpfwd_config_set_downstream_stdio(cfg, fds[0], fds[1]) == MCPFWD_OK);
  CHECK(mcpfwd_config_set_upstream_command(cfg, 1, argv_bad) == MCPFWD_OK);
  CHECK(mcpfwd_config_set_log_level(cfg, MCPFWD_LOG_OFF) == MCPFWD_OK);
  CHECK(mcpfwd_proxy_new(&p, cfg) == MCPFWD_OK);
  CHECK(mcpfwd_proxy_wait(p, 0, &code) == MCPFWD_E_STATE);
  CHECK(mcpfwd_proxy_start(p) == MCPFWD_E_IO);
  CHECK(strstr(mcpfwd_last_error(), "/nonexistent/mcp-server") != NULL);
  mcpfwd_proxy_free(p);
  p = NULL;

  /* a real run with `cat` as the "server" (it echoes requests back, which
     the proxy forwards as the server's messages); stop ends it with 0 and
     the user_data destructor runs exactly once, in free */
  CHECK(mcpfwd_config_set_upstream_command(cfg, 1, argv_cat) == MCPFWD_OK);
  CHECK(mcpfwd_config_set_user_data(cfg, &freed, free_ud) == MCPFWD_OK);
  CHECK(mcpfwd_config_set_shutdown_grace_ms(cfg, 200) == MCPFWD_OK);
  CHECK(mcpfwd_proxy_new(&p, cfg) == MCPFWD_OK);
  mcpfwd_config_free(cfg); /* the proxy copied it */
  cfg = NULL;
  CHECK(mcpfwd_proxy_start(p) == MCPFWD_OK);
  CHECK(mcpfwd_proxy_start(p) == MCPFWD_E_STATE);
  CHECK(mcpfwd_proxy_wait(p, 10, &code) == MCPFWD_E_TIMEOUT);
  CHECK(mcpfwd_proxy_stats_json(p, &stats) == MCPFWD_OK);
  CHECK(stats != NULL && strstr(stats, "\"upstream_pid\"") != NULL);
  mcpfwd_string_free(stats);
  CHECK(mcpfwd_proxy_stop(p) == MCPFWD_OK);
  CHECK(mcpfwd_proxy_stop(p) == MCPFWD_OK); /* idempotent */
  CHECK(mcpfwd_proxy_wait(p, 10000, &code) == MCPFWD_OK);
  CHECK(code == 0);
  CHECK(freed == 0);
  mcpfwd_proxy_free(p);
  CHECK(freed == 1);
  close(fds[0]);
  close(fds[1]);

  /* events: opened then closed, in order, on the proxy's thread; inside the
     callback only accessors and stop work (stop ends this session) */
  {
    mcpfwd_proxy *ep = NULL;
    CHECK(pipe(fds) == 0);
    CHECK(mcpfwd_config_new(&cfg) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_downstream_stdio(cfg, fds[0], fds[1]) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_command(cfg, 1, argv_cat) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_log_level(cfg, MCPFWD_LOG_OFF) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_shutdown_grace_ms(cfg, 200) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_event_cb(cfg, on_event) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_user_data(cfg, &ep, NULL) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&ep, cfg) == MCPFWD_OK);
    mcpfwd_config_free(cfg);
    cfg = NULL;
    CHECK(mcpfwd_proxy_start(ep) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_wait(ep, 10000, &code) == MCPFWD_OK); /* stopped from the callback */
    CHECK(code == 0);
    mcpfwd_proxy_free(ep);
    CHECK(opened == 1 && closed == 1);
    CHECK(state_inside == 1);
    CHECK(stop_inside == 1);
    CHECK(strstr(close_reason, "stop") != NULL);
    close(fds[0]);
    close(fds[1]);
  }

  /* the message hook sees the notification going to `cat` and coming back */
  {
    mcpfwd_proxy *mp = NULL;
    int to_proxy[2], from_proxy[2];
    const char line[] = "{\"jsonrpc\":\"2.0\",\"method\":\"hello\"}\n";
    char buf[256];
    CHECK(pipe(to_proxy) == 0 && pipe(from_proxy) == 0);
    CHECK(mcpfwd_config_new(&cfg) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_downstream_stdio(cfg, to_proxy[0], from_proxy[1]) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_command(cfg, 1, argv_cat) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_log_level(cfg, MCPFWD_LOG_OFF) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_message_cb(cfg, on_message) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&mp, cfg) == MCPFWD_OK);
    mcpfwd_config_free(cfg);
    cfg = NULL;
    CHECK(mcpfwd_proxy_start(mp) == MCPFWD_OK);
    close(to_proxy[0]); /* the proxy has its own copies */
    close(from_proxy[1]);
    CHECK(write(to_proxy[1], line, sizeof line - 1) == (ssize_t)(sizeof line - 1));
    CHECK(read(from_proxy[0], buf, sizeof buf) == (ssize_t)(sizeof line - 1));
    close(to_proxy[1]); /* client EOF ends the session */
    CHECK(mcpfwd_proxy_wait(mp, 10000, &code) == MCPFWD_OK && code == 0);
    mcpfwd_proxy_free(mp);
    close(from_proxy[0]);
    CHECK(msg_c2s == 1 && msg_s2c == 1 && msg_bytes_ok == 2);
  }

  /* HTTP mode: a URL, an empty session list, not-found for unknown ids */
  {
    mcpfwd_proxy *hp = NULL;
    char *url = NULL, *list = NULL, *one = NULL;
    CHECK(mcpfwd_config_new(&cfg) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_listen(cfg, "127.0.0.1", 0) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_command(cfg, 1, argv_cat) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_log_level(cfg, MCPFWD_LOG_OFF) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_max_sessions(cfg, 0) == MCPFWD_E_INVALID_ARG);
    CHECK(mcpfwd_config_set_io_threads(cfg, 2) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&hp, cfg) == MCPFWD_OK);
    mcpfwd_config_free(cfg);
    cfg = NULL;
    CHECK(mcpfwd_proxy_start(hp) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_url(hp, &url) == MCPFWD_OK);
    CHECK(url != NULL && strncmp(url, "http://127.0.0.1:", 17) == 0 &&
          strcmp(url + strlen(url) - 4, "/mcp") == 0);
    CHECK(mcpfwd_proxy_sessions_json(hp, &list) == MCPFWD_OK && strcmp(list, "[]") == 0);
    CHECK(mcpfwd_proxy_session_json(hp, "nope", &one) == MCPFWD_E_NOT_FOUND && one == NULL);
    CHECK(mcpfwd_proxy_close_session(hp, "nope") == MCPFWD_E_NOT_FOUND);
    CHECK(strcmp(mcpfwd_status_str(MCPFWD_E_NOT_FOUND), "not found") == 0);
    mcpfwd_string_free(url);
    mcpfwd_string_free(list);
    CHECK(mcpfwd_proxy_stop(hp) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_wait(hp, 10000, &code) == MCPFWD_OK && code == 0);
    mcpfwd_proxy_free(hp);
  }

  /* mcpfwd_proxy_free from inside a callback is safe: it frees on its own thread */
  {
    static mcpfwd_proxy *fp = NULL;
    int i;
    CHECK(pipe(fds) == 0);
    CHECK(mcpfwd_config_new(&cfg) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_downstream_stdio(cfg, fds[0], fds[1]) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_command(cfg, 1, argv_cat) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_log_level(cfg, MCPFWD_LOG_OFF) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_shutdown_grace_ms(cfg, 200) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_event_cb(cfg, free_in_callback) == MCPFWD_OK);
    CHECK(mcpfwd_config_set_user_data(cfg, &fp, free_from_cb_ud) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&fp, cfg) == MCPFWD_OK);
    mcpfwd_config_free(cfg);
    cfg = NULL;
    CHECK(mcpfwd_proxy_start(fp) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_stop(fp) == MCPFWD_OK); /* CLOSED follows; the callback frees */
    for (i = 0; i < 1000 && !__atomic_load_n(&freed_from_cb, __ATOMIC_SEQ_CST); ++i)
      usleep(10 * 1000);
    CHECK(__atomic_load_n(&freed_from_cb, __ATOMIC_SEQ_CST) == 1);
    close(fds[0]);
    close(fds[1]);
  }

  /* options by name: the table can be walked, values are parsed by type and bounds;
     an option of another mode fails the proxy; user data given with the proxy */
  {
    const mcpfwd_option *o;
    mcpfwd_proxy *a = NULL, *b = NULL;
    int n = 0, seen_max_sessions = 0, freed_a = 0, freed_b = 0;
    for (o = mcpfwd_option_next(NULL); o != NULL; o = mcpfwd_option_next(o)) {
      ++n;
      CHECK(mcpfwd_option_name(o)[0] != '\0' && mcpfwd_option_help(o)[0] != '\0');
      if (strcmp(mcpfwd_option_name(o), "max-sessions") == 0) {
        seen_max_sessions = 1;
        CHECK(strcmp(mcpfwd_option_default(o), "1000") == 0);
        CHECK(mcpfwd_option_get_type(o) == MCPFWD_OPTION_INTEGER);
        CHECK((mcpfwd_option_modes(o) & MCPFWD_MODE_HTTP) != 0);
        CHECK((mcpfwd_option_modes(o) & MCPFWD_MODE_STDIO) == 0);
        CHECK(strcmp(mcpfwd_option_cli_flag(o), "--max-sessions") == 0);
        CHECK(mcpfwd_option_min(o) == 1);
      }
    }
    CHECK(n >= 30 && seen_max_sessions);
    CHECK(mcpfwd_option_find("allow-host") != NULL);
    CHECK(mcpfwd_option_find("no-such-option") == NULL);
    CHECK(mcpfwd_config_new(&cfg) == MCPFWD_OK);
    CHECK(mcpfwd_config_set(cfg, "no-such-option", "1") == MCPFWD_E_INVALID_ARG);
    CHECK(strstr(mcpfwd_last_error(), "no-such-option") != NULL);
    CHECK(mcpfwd_config_set(cfg, "max-connections", "lots") == MCPFWD_E_INVALID_ARG);
    CHECK(mcpfwd_config_set(cfg, "max-sessions", "0") == MCPFWD_E_INVALID_ARG);
    CHECK(strstr(mcpfwd_last_error(), "at least 1") != NULL);
    CHECK(mcpfwd_config_set(cfg, "log-level", "loud") == MCPFWD_E_INVALID_ARG);
    CHECK(mcpfwd_config_set(cfg, "log-level", "off") == MCPFWD_OK);
    CHECK(mcpfwd_config_set(cfg, "upstream-insecure", "maybe") == MCPFWD_E_INVALID_ARG);
    CHECK(mcpfwd_config_set(cfg, "listen", "127.0.0.1:0") == MCPFWD_OK);
    CHECK(mcpfwd_config_set(cfg, "allow-host", "mcp.internal") == MCPFWD_OK);
    CHECK(mcpfwd_config_set(cfg, "max-connections", "64") == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_command(cfg, 1, argv_cat) == MCPFWD_OK);
    CHECK(mcpfwd_config_set(cfg, "upstream-pool-max", "8") == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new(&a, cfg) == MCPFWD_E_INVALID_ARG); /* a URL option, a command */
    CHECK(strstr(mcpfwd_last_error(), "upstream-pool-max") != NULL);
    mcpfwd_config_free(cfg);
    CHECK(mcpfwd_config_new(&cfg) == MCPFWD_OK);
    CHECK(mcpfwd_config_set(cfg, "listen", "127.0.0.1:0") == MCPFWD_OK);
    CHECK(mcpfwd_config_set(cfg, "log-level", "off") == MCPFWD_OK);
    CHECK(mcpfwd_config_set_upstream_command(cfg, 1, argv_cat) == MCPFWD_OK);
    /* two proxies from one config, each owning its user data */
    CHECK(mcpfwd_proxy_new_v2(&a, cfg, &freed_a, free_ud_counter) == MCPFWD_OK);
    CHECK(mcpfwd_proxy_new_v2(&b, cfg, &freed_b, free_ud_counter) == MCPFWD_OK);
    mcpfwd_config_free(cfg);
    cfg = NULL;
    mcpfwd_proxy_free(a);
    CHECK(freed_a == 1 && freed_b == 0);
    mcpfwd_proxy_free(b);
    CHECK(freed_a == 1 && freed_b == 1);
  }

  if (failures == 0) printf("capi_c_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
