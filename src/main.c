/* lingma-gateway entry point: load the configuration, start the app, run the loop. */
#include "core/app.h"
#include "upstream/credentials.h"
#include "util/config.h"
#include "util/heap_trim.h"
#include "util/log.h"
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *real_getenv(const char *name) { return getenv(name); }

/* lingma-gateway import-cache DIR [--name N] --accounts PATH: appends the account found in a
 * Lingma / QoderCN desktop login cache to the accounts file. */
static int import_cache(int argc, char **argv) {
    const char *dir = NULL, *name = NULL, *accounts = getenv("LINGMA_ACCOUNTS_FILE");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc)
            accounts = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "usage: lingma-gateway import-cache DIR [--name N] --accounts PATH\n");
            return 2;
        }
    }
    if (!dir || !accounts || !*accounts) {
        fprintf(stderr, "usage: lingma-gateway import-cache DIR [--name N] --accounts PATH\n");
        return 2;
    }
    lingma_account acct;
    char err[512];
    if (credentials_import_cache(dir, name, &acct, err, sizeof err) != 0) {
        fprintf(stderr, "lingma-gateway: import-cache: %s\n", err);
        return 1;
    }
    bool replaced = false;
    int rc = credentials_append(accounts, &acct, &replaced, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "lingma-gateway: import-cache: %s\n", err);
    else
        printf("%s account \"%s\" in %s\n", replaced ? "replaced" : "added", acct.name, accounts);
    lingma_account_free(&acct);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN); /* a client that goes away must not kill the process */
    heap_trim_configure();
    if (argc > 1 && strcmp(argv[1], "import-cache") == 0) return import_cache(argc, argv);
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
    uv_loop_t *loop = uv_default_loop();
    app *a;
    if (app_start(&a, loop, &cfg) != 0) return 1;
    uv_run(loop, UV_RUN_DEFAULT);
    app_free(a);
    uv_loop_close(loop);
    return 0;
}
