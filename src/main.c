/* lingma-gateway entry point: load the configuration, start the app, run the loop. */
#include "core/app.h"
#include "upstream/http_client.h"
#include "util/config.h"
#include "util/log.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *real_getenv(const char *name) { return getenv(name); }

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN); /* a client that goes away must not kill the process */
    config cfg;
    char *text = NULL;
    config_status st = config_load(&cfg, argc, argv, real_getenv, &text);
    if (st == CONFIG_EXIT_OK) {
        fputs(text, stdout);
        free(text);
        return 0;
    }
    if (st == CONFIG_ERROR) {
        fprintf(stderr, "lingma-gateway: %s\n", text);
        free(text);
        return 2;
    }
    log_level lvl = LOG_INFO;
    if (log_parse_level(cfg.log_level, &lvl)) {
        fprintf(stderr, "lingma-gateway: LOG_LEVEL must be debug, info, warn or error\n");
        config_free(&cfg);
        return 2;
    }
    log_configure(lvl, strcmp(cfg.log_format, "json") == 0);
    if (cfg.check_only) {
        char *json = config_to_json(&cfg);
        printf("%s\nconfiguration OK\n", json);
        free(json);
        config_free(&cfg);
        return 0;
    }
    if (http_client_global_init() != 0) {
        fprintf(stderr, "lingma-gateway: libcurl initialisation failed\n");
        config_free(&cfg);
        return 1;
    }
    uv_loop_t *loop = uv_default_loop();
    app *a;
    if (app_start(&a, loop, &cfg) != 0) return 1;
    uv_run(loop, UV_RUN_DEFAULT);
    app_free(a);
    http_client_global_cleanup();
    uv_loop_close(loop);
    return 0;
}
