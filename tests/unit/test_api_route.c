/* test_api_route.c: the API's path matcher: parameters, their limits, decoding, methods, and the
 * answers the real route table gives for paths around its patterns. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_route.h"
#include "check_run.h"

#define G EVHTTP_REQ_GET
#define P EVHTTP_REQ_POST
#define H EVHTTP_REQ_HEAD

static const struct api_route table[] = {
    {G, "/plain", ROLE_NONE, NULL, 0, 0, NULL},
    {G, "/things/{id}/parts", ROLE_AUDITOR, NULL, 8, API_ROUTE_CHARS, "no such thing"},
    {G, "/things/{id}", ROLE_AUDITOR, NULL, 8, 0, "no such thing"},
    {P, "/things/{id}/act", ROLE_DDM, NULL, 8, API_ROUTE_ONE_SEGMENT, "no such endpoint"},
    {G, "/pairs/{a}/with/{b}", ROLE_OPS, NULL, 8, API_ROUTE_ONE_SEGMENT, "no such pair"},
    {G, "/", ROLE_NONE, NULL, 0, 0, NULL},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

static enum api_route_result run(enum evhttp_cmd_type method, const char *path, struct api_route_match *m)
{
    return api_route_match(table, NTABLE, path, method, m);
}

START_TEST(exact_and_params)
{
    struct api_route_match m;
    ck_assert_int_eq(run(G, "/plain", &m), API_ROUTE_FOUND);
    ck_assert_ptr_eq(m.route, &table[0]);
    ck_assert_uint_eq(m.nparams, 0);
    api_route_match_clear(&m);

    ck_assert_int_eq(run(G, "/things/abc", &m), API_ROUTE_FOUND);
    ck_assert_ptr_eq(m.route, &table[2]);
    ck_assert_str_eq(api_route_param(&m, "id"), "abc");
    ck_assert_ptr_null(api_route_param(&m, "i"));
    ck_assert_ptr_null(api_route_param(&m, "idx"));
    api_route_match_clear(&m);

    /* An earlier row wins; the parameter is everything before the final literal text. */
    ck_assert_int_eq(run(G, "/things/a/b/parts", &m), API_ROUTE_FOUND);
    ck_assert_ptr_eq(m.route, &table[1]);
    ck_assert_str_eq(api_route_param(&m, "id"), "a/b");
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/things/parts/parts", &m), API_ROUTE_FOUND);
    ck_assert_str_eq(api_route_param(&m, "id"), "parts");
    api_route_match_clear(&m);

    /* Two parameters. */
    ck_assert_int_eq(run(G, "/pairs/x/with/y", &m), API_ROUTE_FOUND);
    ck_assert_ptr_eq(m.route, &table[4]);
    ck_assert_uint_eq(m.nparams, 2);
    ck_assert_str_eq(api_route_param(&m, "a"), "x");
    ck_assert_str_eq(api_route_param(&m, "b"), "y");
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/pairs/x/with/y/with/z", &m), API_ROUTE_BAD_PARAM);
    ck_assert_ptr_eq(m.route, &table[4]);
    api_route_match_clear(&m);
}
END_TEST

START_TEST(trailing_slash_and_empty_segments)
{
    struct api_route_match m;
    /* A trailing slash is part of the path: no row serves "/plain/". */
    ck_assert_int_eq(run(G, "/plain/", &m), API_ROUTE_UNKNOWN);
    api_route_match_clear(&m);
    /* ... but a parameter that may hold '/' takes it. */
    ck_assert_int_eq(run(G, "/things/abc/", &m), API_ROUTE_FOUND);
    ck_assert_str_eq(api_route_param(&m, "id"), "abc/");
    api_route_match_clear(&m);
    /* An empty parameter matches the row's shape and is answered by the row (404 after its
     * role check), unless a later row of the method takes the path with valid parameters. */
    ck_assert_int_eq(run(G, "/things/", &m), API_ROUTE_BAD_PARAM);
    ck_assert_ptr_eq(m.route, &table[2]);
    ck_assert_str_eq(m.route->invalid, "no such thing");
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/things//parts", &m), API_ROUTE_FOUND);
    ck_assert_ptr_eq(m.route, &table[2]);
    ck_assert_str_eq(api_route_param(&m, "id"), "/parts");
    api_route_match_clear(&m);
    ck_assert_int_eq(run(P, "/things//act", &m), API_ROUTE_BAD_PARAM);
    ck_assert_ptr_eq(m.route, &table[3]);
    api_route_match_clear(&m);
    /* Empty segments are not collapsed. */
    ck_assert_int_eq(run(G, "//plain", &m), API_ROUTE_UNKNOWN);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/pairs//with/y", &m), API_ROUTE_BAD_PARAM);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/", &m), API_ROUTE_FOUND);
    ck_assert_ptr_eq(m.route, &table[5]);
    api_route_match_clear(&m);
}
END_TEST

START_TEST(percent_encoding)
{
    struct api_route_match m;
    /* The path is decoded before it is matched: %2F is a '/' like any other. */
    ck_assert_int_eq(run(G, "/things/a%2Fb", &m), API_ROUTE_FOUND);
    ck_assert_str_eq(api_route_param(&m, "id"), "a/b");
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/%70lain", &m), API_ROUTE_FOUND);
    ck_assert_ptr_eq(m.route, &table[0]);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/things/%C3%A9t%C3%A9", &m), API_ROUTE_FOUND);
    ck_assert_str_eq(api_route_param(&m, "id"), "\xC3\xA9t\xC3\xA9");
    api_route_match_clear(&m);
    ck_assert_int_eq(run(P, "/things/a%2Fb/act", &m), API_ROUTE_BAD_PARAM); /* one segment only */
    api_route_match_clear(&m);
    /* '+' stays itself in a path. */
    ck_assert_int_eq(run(G, "/things/a+b", &m), API_ROUTE_FOUND);
    ck_assert_str_eq(api_route_param(&m, "id"), "a+b");
    api_route_match_clear(&m);
    /* What cannot be decoded, decodes to a NUL or is not UTF-8 is a bad path. */
    const char *bad[] = {"/things/%00", "/things/a%00b", "/things/%FF", "/things/%C0%AF", "/things/%ED%A0%80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(run(G, bad[i], &m), API_ROUTE_BAD_PATH);
        ck_assert_ptr_null(m.route);
        api_route_match_clear(&m);
    }
    ck_assert_int_eq(run(G, NULL, &m), API_ROUTE_BAD_PATH);
    api_route_match_clear(&m);
}
END_TEST

START_TEST(over_long_parameters)
{
    struct api_route_match m;
    ck_assert_int_eq(run(G, "/things/12345678", &m), API_ROUTE_FOUND);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/things/123456789", &m), API_ROUTE_BAD_PARAM);
    ck_assert_ptr_eq(m.route, &table[2]);
    ck_assert_uint_eq(m.nparams, 1);
    api_route_match_clear(&m);
    /* Bytes by default: 5 two-byte characters are 10 bytes. */
    ck_assert_int_eq(run(G, "/things/%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9", &m), API_ROUTE_BAD_PARAM);
    api_route_match_clear(&m);
    /* Characters where the row says so: 8 two-byte characters fit, 9 do not. */
    ck_assert_int_eq(run(G, "/things/%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9/parts", &m), API_ROUTE_FOUND);
    ck_assert_ptr_eq(m.route, &table[1]);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/things/%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9/parts", &m),
                     API_ROUTE_BAD_PARAM);
    ck_assert_ptr_eq(m.route, &table[1]);
    api_route_match_clear(&m);
    /* A very long path is matched in one pass per row, and refused. */
    size_t n = 200000;
    char *big = malloc(n + 16);
    ck_assert_ptr_nonnull(big);
    memcpy(big, "/things/", 8);
    memset(big + 8, 'x', n);
    strcpy(big + 8 + n, "/parts");
    ck_assert_int_eq(run(G, big, &m), API_ROUTE_BAD_PARAM);
    api_route_match_clear(&m);
    free(big);
}
END_TEST

START_TEST(methods)
{
    struct api_route_match m;
    /* A path a row serves with another method is 405. */
    ck_assert_int_eq(run(P, "/plain", &m), API_ROUTE_BAD_METHOD);
    ck_assert_ptr_null(m.route);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(H, "/", &m), API_ROUTE_BAD_METHOD);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(P, "/pairs/x/with/y", &m), API_ROUTE_BAD_METHOD);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(G, "/things/x/act", &m), API_ROUTE_FOUND); /* the GET row's id is "x/act" */
    ck_assert_str_eq(api_route_param(&m, "id"), "x/act");
    api_route_match_clear(&m);
    /* So is one below a parameterised row of another method only ... */
    ck_assert_int_eq(run(H, "/pairs/x", &m), API_ROUTE_BAD_METHOD);
    api_route_match_clear(&m);
    /* ... while below one of this method it is that row's "no such endpoint". */
    ck_assert_int_eq(run(G, "/pairs/x", &m), API_ROUTE_NO_ENDPOINT);
    ck_assert_ptr_eq(m.route, &table[4]);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(P, "/things/x/other", &m), API_ROUTE_NO_ENDPOINT);
    ck_assert_ptr_eq(m.route, &table[3]);
    api_route_match_clear(&m);
    /* ... even where a row of another method fits the path. */
    ck_assert_int_eq(run(P, "/things/x", &m), API_ROUTE_NO_ENDPOINT);
    ck_assert_ptr_eq(m.route, &table[3]);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(P, "/elsewhere", &m), API_ROUTE_UNKNOWN);
    api_route_match_clear(&m);
    ck_assert_int_eq(run(EVHTTP_REQ_PUT, "/plain", &m), API_ROUTE_BAD_METHOD);
    api_route_match_clear(&m);
    ck_assert_str_eq(api_route_method_name(P), "POST");
    ck_assert_str_eq(api_route_method_name(H), "HEAD");
}
END_TEST

/* The daemon's own table: the answers the API has always given around its patterns. */
static const struct api_route *real(enum evhttp_cmd_type method, const char *path, enum api_route_result want,
                                    const char *param, const char *value)
{
    struct api_route_match m;
    ck_assert_msg(api_route_match(api_routes, api_nroutes, path, method, &m) == want, "%s %s: %d, not %d",
                  api_route_method_name(method), path, m.result, want);
    if (param)
        ck_assert_str_eq(api_route_param(&m, param), value);
    const struct api_route *r = m.route;
    api_route_match_clear(&m);
    return r;
}

START_TEST(the_daemon_table)
{
    const struct api_route *r = real(G, "/v1/crimes/WM%2F2026%2F000123", API_ROUTE_FOUND, "crn", "WM/2026/000123");
    ck_assert_str_eq(r->pattern, "/v1/crimes/{crn}");
    r = real(P, "/v1/crimes/WM/2026/000123/cancel", API_ROUTE_FOUND, "crn", "WM/2026/000123");
    ck_assert_str_eq(r->pattern, "/v1/crimes/{crn}/cancel");
    ck_assert_int_eq(r->role, ROLE_DDM);
    r = real(P, "/v1/crimes/WM%2F2026%2F000123/reclassify", API_ROUTE_FOUND, "crn", "WM/2026/000123");
    ck_assert_str_eq(r->pattern, "/v1/crimes/{crn}/reclassify");
    r = real(G, "/v1/incidents/INC%2F1/events", API_ROUTE_FOUND, "incident_id", "INC/1");
    ck_assert_str_eq(r->pattern, "/v1/incidents/{incident_id}/events");
    r = real(G, "/v1/incidents/INC/1", API_ROUTE_FOUND, "incident_id", "INC/1");
    ck_assert_str_eq(r->pattern, "/v1/incidents/{incident_id}");
    r = real(P, "/v1/pending/PD-42/decision", API_ROUTE_FOUND, "id", "PD-42");
    ck_assert_int_eq(r->role, ROLE_SUPERVISOR);
    real(G, "/ui/app.js", API_ROUTE_FOUND, "file", "app.js");
    real(H, "/", API_ROUTE_FOUND, NULL, NULL);
    /* Bad parameters: 404 with the row's message. */
    char long_id[128];
    snprintf(long_id, sizeof(long_id), "/v1/incidents/%065d", 0);
    ck_assert_str_eq(real(G, long_id, API_ROUTE_BAD_PARAM, NULL, NULL)->invalid, "no such incident");
    ck_assert_str_eq(real(G, "/v1/incidents/", API_ROUTE_BAD_PARAM, NULL, NULL)->invalid, "no such incident");
    ck_assert_str_eq(real(G, "/v1/crimes/", API_ROUTE_BAD_PARAM, NULL, NULL)->invalid, "no such crime");
    ck_assert_str_eq(real(P, "/v1/pending/a/b/decision", API_ROUTE_BAD_PARAM, NULL, NULL)->invalid, "no such endpoint");
    ck_assert_str_eq(real(G, "/ui/a/b", API_ROUTE_BAD_PARAM, NULL, NULL)->invalid, "no such file");
    ck_assert_str_eq(real(G, "/ui/", API_ROUTE_BAD_PARAM, NULL, NULL)->invalid, "no such file");
    /* 64 characters of two bytes each are a valid incident id for its events, as they always were. */
    char events[64 * 6 + 64] = "/v1/incidents/";
    for (int i = 0; i < 64; i++)
        strcat(events, "%C3%A9");
    strcat(events, "/events");
    real(G, events, API_ROUTE_FOUND, NULL, NULL);
    /* 405 and 404 where they always were. */
    real(P, "/v1/pending", API_ROUTE_BAD_METHOD, NULL, NULL);
    real(H, "/v1/pending", API_ROUTE_BAD_METHOD, NULL, NULL);
    real(G, "/v1/pending/", API_ROUTE_BAD_METHOD, NULL, NULL);
    real(G, "/v1/pending/x/decision", API_ROUTE_BAD_METHOD, NULL, NULL);
    /* Below POST /v1/incidents/{incident_id}/legal-hold: no such endpoint rather than a method. */
    real(P, "/v1/incidents/x", API_ROUTE_NO_ENDPOINT, NULL, NULL);
    real(P, "/v1/incidents/a/b/legal-hold", API_ROUTE_FOUND, "incident_id", "a/b");
    real(P, "/ui/app.js", API_ROUTE_BAD_METHOD, NULL, NULL);
    real(P, "/", API_ROUTE_BAD_METHOD, NULL, NULL);
    real(P, "/healthz", API_ROUTE_BAD_METHOD, NULL, NULL);
    real(P, "/v1/pending/x/other", API_ROUTE_NO_ENDPOINT, NULL, NULL);
    real(P, "/v1/crimes/x", API_ROUTE_NO_ENDPOINT, NULL, NULL);
    real(G, "/v1", API_ROUTE_UNKNOWN, NULL, NULL);
    real(G, "/v1/nope", API_ROUTE_UNKNOWN, NULL, NULL);
    real(P, "/nope", API_ROUTE_UNKNOWN, NULL, NULL);
    real(G, "/V1/PENDING", API_ROUTE_UNKNOWN, NULL, NULL);
    real(G, "/v1/pending%00", API_ROUTE_BAD_PATH, NULL, NULL);
}
END_TEST

START_TEST(routes_listing)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    api_routes_print(f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "GET /healthz none\n"));
    ck_assert_ptr_nonnull(strstr(text, "GET /metrics ops\n"));
    ck_assert_ptr_nonnull(strstr(text, "POST /v1/pending/{id}/decision supervisor\n"));
    ck_assert_ptr_nonnull(strstr(text, "POST /v1/crimes/{crn}/cancel ddm\n"));
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, api_nroutes);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_route");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, exact_and_params);
    tcase_add_test(tc, trailing_slash_and_empty_segments);
    tcase_add_test(tc, percent_encoding);
    tcase_add_test(tc, over_long_parameters);
    tcase_add_test(tc, methods);
    tcase_add_test(tc, the_daemon_table);
    tcase_add_test(tc, routes_listing);
    suite_add_tcase(s, tc);
    return check_run(s);
}
