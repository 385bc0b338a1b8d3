/* router: every route, methods (405 + Allow), trailing slash, parameters, protocol family, and
 * the query string staying out of the path the router sees (via the request parser). */
#include "front/router.h"
#include "net/request_parser.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const char *route_name(route_id id) {
    switch (id) {
    case ROUTE_NOT_FOUND: return "NOT_FOUND";
    case ROUTE_METHOD_NOT_ALLOWED: return "METHOD_NOT_ALLOWED";
    case ROUTE_HEALTH: return "HEALTH";
    case ROUTE_READYZ: return "READYZ";
    case ROUTE_CHAT_COMPLETIONS: return "CHAT_COMPLETIONS";
    case ROUTE_MESSAGES: return "MESSAGES";
    case ROUTE_COUNT_TOKENS: return "COUNT_TOKENS";
    case ROUTE_MODELS: return "MODELS";
    case ROUTE_MODEL_GET: return "MODEL_GET";
    case ROUTE_METRICS: return "METRICS";
    case ROUTE_INTERNAL: return "INTERNAL";
    }
    return "?";
}

static const char *family_name(route_family f) {
    switch (f) {
    case FAMILY_OPENAI: return "OPENAI";
    case FAMILY_ANTHROPIC: return "ANTHROPIC";
    case FAMILY_PLAIN: return "PLAIN";
    }
    return "?";
}

/* Matches and checks route id and family; returns the match for further checks. */
static route_match expect_route(const char *method, const char *path, route_id id,
                                route_family family) {
    route_match m = router_match(method, path);
    if (m.id != id || m.family != family)
        fail_msg("%s %s: want %s/%s, got %s/%s", method, path, route_name(id), family_name(family),
                 route_name(m.id), family_name(m.family));
    return m;
}

static void expect_param(route_match m, const char *want) {
    if (!want) {
        assert_null(m.param);
        assert_int_equal(m.param_len, 0);
        return;
    }
    assert_non_null(m.param);
    if (m.param_len != strlen(want) || strncmp(m.param, want, m.param_len) != 0)
        fail_msg("param: want \"%s\", got \"%.*s\"", want, (int)m.param_len, m.param);
}

static void test_every_route(void **state) {
    (void)state;
    struct {
        const char *method, *path;
        route_id id;
        route_family family;
    } cases[] = {
        {"GET", "/health", ROUTE_HEALTH, FAMILY_OPENAI},
        {"GET", "/healthz", ROUTE_HEALTH, FAMILY_OPENAI},
        {"GET", "/readyz", ROUTE_READYZ, FAMILY_OPENAI},
        {"POST", "/v1/chat/completions", ROUTE_CHAT_COMPLETIONS, FAMILY_OPENAI},
        {"POST", "/v1/messages", ROUTE_MESSAGES, FAMILY_ANTHROPIC},
        {"POST", "/v1/messages/count_tokens", ROUTE_COUNT_TOKENS, FAMILY_ANTHROPIC},
        {"GET", "/v1/models", ROUTE_MODELS, FAMILY_OPENAI},
        {"GET", "/v1/models/kmodel", ROUTE_MODEL_GET, FAMILY_OPENAI},
        {"GET", "/metrics", ROUTE_METRICS, FAMILY_OPENAI},
        {"GET", "/internal/config", ROUTE_INTERNAL, FAMILY_OPENAI},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        route_match m = expect_route(cases[i].method, cases[i].path, cases[i].id, cases[i].family);
        assert_null(m.allow);
    }
}

static void test_head_allowed_on_get_routes(void **state) {
    (void)state;
    expect_route("HEAD", "/health", ROUTE_HEALTH, FAMILY_OPENAI);
    expect_route("HEAD", "/v1/models", ROUTE_MODELS, FAMILY_OPENAI);
    expect_route("HEAD", "/metrics", ROUTE_METRICS, FAMILY_OPENAI);
    /* but not on POST routes */
    route_match m =
        expect_route("HEAD", "/v1/messages", ROUTE_METHOD_NOT_ALLOWED, FAMILY_ANTHROPIC);
    assert_string_equal(m.allow, "POST");
}

static void test_method_not_allowed(void **state) {
    (void)state;
    struct {
        const char *method, *path, *allow;
        route_family family;
    } cases[] = {
        {"GET", "/v1/chat/completions", "POST", FAMILY_OPENAI},
        {"PUT", "/v1/chat/completions", "POST", FAMILY_OPENAI},
        {"GET", "/v1/messages", "POST", FAMILY_ANTHROPIC},
        {"DELETE", "/v1/messages/count_tokens", "POST", FAMILY_ANTHROPIC},
        {"POST", "/v1/models", "GET", FAMILY_OPENAI},
        {"DELETE", "/v1/models/kmodel", "GET", FAMILY_OPENAI},
        {"POST", "/health", "GET", FAMILY_OPENAI},
        {"POST", "/healthz", "GET", FAMILY_OPENAI},
        {"POST", "/readyz", "GET", FAMILY_OPENAI},
        {"POST", "/metrics", "GET", FAMILY_OPENAI},
        {"post", "/v1/messages", "POST", FAMILY_ANTHROPIC}, /* methods are case-sensitive */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        route_match m =
            expect_route(cases[i].method, cases[i].path, ROUTE_METHOD_NOT_ALLOWED, cases[i].family);
        assert_non_null(m.allow);
        assert_string_equal(m.allow, cases[i].allow);
        assert_null(m.param);
    }
}

static void test_internal_any_method(void **state) {
    (void)state;
    const char *methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        route_match m =
            expect_route(methods[i], "/internal/accounts/a1/state", ROUTE_INTERNAL, FAMILY_OPENAI);
        expect_param(m, "accounts/a1/state");
    }
}

static void test_not_found(void **state) {
    (void)state;
    const char *openai[] = {"/",
                            "",
                            "/v1",
                            "/v1/",
                            "/v1/chat",
                            "/v1/completions",
                            "/HEALTH",
                            "//health",
                            "/health/x",
                            "/v1/messagesx",
                            "/v1/modelsx",
                            "/internal",
                            "/internal/",
                            "/metrics/x",
                            "/v2/messages",
                            "/x/v1/messages"};
    for (size_t i = 0; i < sizeof openai / sizeof openai[0]; i++) {
        route_match m = expect_route("GET", openai[i], ROUTE_NOT_FOUND, FAMILY_OPENAI);
        assert_null(m.allow);
        assert_null(m.param);
    }
    const char *anthropic[] = {"/v1/messages/batches", "/v1/messages/count_tokens/x",
                               "/v1/messages//"};
    for (size_t i = 0; i < sizeof anthropic / sizeof anthropic[0]; i++)
        expect_route("POST", anthropic[i], ROUTE_NOT_FOUND, FAMILY_ANTHROPIC);
}

static void test_trailing_slash(void **state) {
    (void)state;
    expect_route("GET", "/health/", ROUTE_HEALTH, FAMILY_OPENAI);
    expect_route("POST", "/v1/chat/completions/", ROUTE_CHAT_COMPLETIONS, FAMILY_OPENAI);
    expect_route("POST", "/v1/messages/", ROUTE_MESSAGES, FAMILY_ANTHROPIC);
    expect_route("POST", "/v1/messages/count_tokens/", ROUTE_COUNT_TOKENS, FAMILY_ANTHROPIC);
    expect_route("GET", "/v1/models/", ROUTE_MODELS, FAMILY_OPENAI);
    route_match m = expect_route("GET", "/v1/models/kmodel/", ROUTE_MODEL_GET, FAMILY_OPENAI);
    expect_param(m, "kmodel"); /* the slash is not part of the id */
    m = expect_route("GET", "/v1/messages/", ROUTE_METHOD_NOT_ALLOWED, FAMILY_ANTHROPIC);
    assert_string_equal(m.allow, "POST");
}

static void test_model_id_param(void **state) {
    (void)state;
    route_match m = expect_route("GET", "/v1/models/claude-3-5-sonnet-20241022", ROUTE_MODEL_GET,
                                 FAMILY_OPENAI);
    expect_param(m, "claude-3-5-sonnet-20241022");
    /* ids may contain slashes (org/model) */
    m = expect_route("GET", "/v1/models/qwen/qwen3-coder", ROUTE_MODEL_GET, FAMILY_OPENAI);
    expect_param(m, "qwen/qwen3-coder");
    m = expect_route("GET", "/v1/models/a", ROUTE_MODEL_GET, FAMILY_OPENAI);
    expect_param(m, "a");
    /* param points into the caller's path */
    const char *path = "/v1/models/gpt-4o";
    m = router_match("GET", path);
    assert_ptr_equal(m.param, path + strlen("/v1/models/"));
    /* non-parameter routes have none */
    expect_param(router_match("GET", "/v1/models"), NULL);
}

static void test_internal_param(void **state) {
    (void)state;
    route_match m = expect_route("GET", "/internal/config", ROUTE_INTERNAL, FAMILY_OPENAI);
    expect_param(m, "config");
    m = expect_route("GET", "/internal/x", ROUTE_INTERNAL, FAMILY_OPENAI);
    expect_param(m, "x");
    m = expect_route("GET", "/internal/stats/", ROUTE_INTERNAL, FAMILY_OPENAI);
    expect_param(m, "stats");
}

static void test_family(void **state) {
    (void)state;
    assert_int_equal(router_family("/v1/messages"), FAMILY_ANTHROPIC);
    assert_int_equal(router_family("/v1/messages/"), FAMILY_ANTHROPIC);
    assert_int_equal(router_family("/v1/messages/count_tokens"), FAMILY_ANTHROPIC);
    assert_int_equal(router_family("/v1/messages/anything/else"), FAMILY_ANTHROPIC);
    assert_int_equal(router_family("/v1/messagesx"), FAMILY_OPENAI);
    assert_int_equal(router_family("/v1/message"), FAMILY_OPENAI);
    assert_int_equal(router_family("/v1/chat/completions"), FAMILY_OPENAI);
    assert_int_equal(router_family("/v1/models"), FAMILY_OPENAI);
    assert_int_equal(router_family("/"), FAMILY_OPENAI);
    assert_int_equal(router_family(""), FAMILY_OPENAI);
}

/* The server hands the router req->path, which the request parser has stripped of its query. */
static void parse_one(const char *raw, request_parsed *out) {
    request_parser p;
    request_parser_init(&p, 8192, 8192, NULL, NULL);
    size_t consumed = 0;
    request_parser_result res = request_parser_feed(&p, raw, strlen(raw), &consumed, out);
    assert_int_equal(res, REQUEST_PARSER_REQUEST);
    assert_int_equal(consumed, strlen(raw));
    request_parser_free(&p);
}

static void test_query_string_not_in_routed_path(void **state) {
    (void)state;
    request_parsed r;
    parse_one("POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
    assert_string_equal(r.path, "/v1/messages");
    assert_string_equal(r.query, "beta=true");
    assert_string_equal(r.target, "/v1/messages?beta=true");
    expect_route(r.method, r.path, ROUTE_MESSAGES, FAMILY_ANTHROPIC);
    request_parsed_free(&r);

    parse_one("GET /v1/models/kmodel?x=1&y=/2 HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_string_equal(r.path, "/v1/models/kmodel");
    route_match m = expect_route(r.method, r.path, ROUTE_MODEL_GET, FAMILY_OPENAI);
    expect_param(m, "kmodel");
    request_parsed_free(&r);

    parse_one("GET /health? HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_string_equal(r.path, "/health");
    assert_string_equal(r.query, "");
    expect_route(r.method, r.path, ROUTE_HEALTH, FAMILY_OPENAI);
    request_parsed_free(&r);

    parse_one("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_string_equal(r.path, "/health");
    assert_string_equal(r.query, "");
    request_parsed_free(&r);

    /* the router itself matches whole paths: a query left in would not route */
    expect_route("POST", "/v1/messages?beta=true", ROUTE_NOT_FOUND, FAMILY_OPENAI);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route),
        cmocka_unit_test(test_head_allowed_on_get_routes),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_internal_any_method),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_model_id_param),
        cmocka_unit_test(test_internal_param),
        cmocka_unit_test(test_family),
        cmocka_unit_test(test_query_string_not_in_routed_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
