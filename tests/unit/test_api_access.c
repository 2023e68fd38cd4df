/* test_api_access.c: the ids an access record takes from a reply (every depth, each list sorted
 * and without repeats, only the members that name ids), and the route table's marking of the
 * routes whose replies carry personal data. */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "api/api_access.h"
#include "api/api_int.h"
#include "check_run.h"

static char *resources_of(const char *body_text)
{
    json_t *body = json_loads(body_text, 0, NULL);
    ck_assert_ptr_nonnull(body);
    json_t *rec = json_object();
    api_access_resources(rec, body);
    char *s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(rec);
    json_decref(body);
    return s;
}

START_TEST(ids_at_every_depth_sorted_once)
{
    char *s = resources_of(
        "{\"items\":[{\"incident_id\":\"I-2\",\"crn\":\"XX/2026/000002\",\"after\":{\"ref\":\"R-9\"}},"
        "{\"incident_id\":\"I-1\",\"crn\":\"XX/2026/000002\",\"event\":{\"persons\":[{\"id\":\"v1\",\"ref\":\"R-1\"},"
        "{\"id\":\"s1\",\"ref\":\"R-1\"}]}}],\"next\":null,"
        "\"x\":{\"victim_ref\":\"R-3\",\"suspect_refs\":[\"R-5\",\"R-4\"],\"incident_ids\":[\"I-3\"],"
        "\"crns\":[\"XX/2026/000001\"],\"person_refs\":[\"R-2\"],\"linked_incident_id\":\"I-0\"}}");
    ck_assert_str_eq(s, "{\"crns\":[\"XX/2026/000001\",\"XX/2026/000002\"],"
                        "\"incident_ids\":[\"I-0\",\"I-1\",\"I-2\",\"I-3\"],"
                        "\"person_refs\":[\"R-1\",\"R-2\",\"R-3\",\"R-4\",\"R-5\",\"R-9\"]}");
    free(s);
}
END_TEST

START_TEST(only_ids_count)
{
    /* Person ids, empty strings, numbers and nulls are not ids of the log; text holding an id is
     * not read (an audit entry's canonical text repeats its columns). */
    char *s = resources_of("{\"victim\":\"v1\",\"id\":\"P-1\",\"incident_id\":\"\",\"crn\":null,\"ref\":7,"
                           "\"entry\":\"{\\\"incident_id\\\":\\\"I-9\\\"}\",\"suspect_refs\":[null,\"\",3]}");
    ck_assert_str_eq(s, "{\"crns\":[],\"incident_ids\":[],\"person_refs\":[]}");
    free(s);
}
END_TEST

START_TEST(record_is_stamped)
{
    json_t *access = json_pack("{s:s, s:s}", "user", "u1", "purpose", "why");
    json_t *extra = json_pack("{s:[s]}", "incident_ids", "I-1");
    json_t *r = api_access_stamp(access, extra);
    ck_assert_str_eq(json_string_value(json_object_get(r, "user")), "u1");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r, "incident_ids"), 0)), "I-1");
    const char *at = json_string_value(json_object_get(r, "at"));
    ck_assert_ptr_nonnull(at);
    ck_assert_uint_ge(strlen(at), 20);
    ck_assert_ptr_null(json_object_get(access, "at")); /* the request's record is left as it was */
    json_decref(r);
    json_decref(extra);
    json_decref(access);
}
END_TEST

static const struct api_route *route_of(enum evhttp_cmd_type method, const char *pattern)
{
    for (size_t i = 0; i < api_nroutes; i++)
        if (api_routes[i].method == method && strcmp(api_routes[i].pattern, pattern) == 0)
            return &api_routes[i];
    return NULL;
}

START_TEST(personal_routes_are_marked)
{
    static const struct {
        enum evhttp_cmd_type method;
        const char *pattern;
        bool personal;
    } want[] = {
        {EVHTTP_REQ_GET, "/v1/incidents/{incident_id}", true},
        {EVHTTP_REQ_GET, "/v1/incidents/{incident_id}/events", true},
        {EVHTTP_REQ_GET, "/v1/crimes/{crn}", true},
        {EVHTTP_REQ_GET, "/v1/audit", true},
        {EVHTTP_REQ_GET, "/v1/pending", true},
        {EVHTTP_REQ_GET, "/v1/audits/{id}", true},
        {EVHTTP_REQ_POST, "/v1/whatif", true},
        {EVHTTP_REQ_GET, "/v1/access-log", true},
        {EVHTTP_REQ_GET, "/v1/subjects/{ref}", true},
        {EVHTTP_REQ_GET, "/v1/reports/cdi", false},
        {EVHTTP_REQ_GET, "/v1/rulesets", false},
        {EVHTTP_REQ_GET, "/healthz", false},
        {EVHTTP_REQ_GET, "/metrics", false},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct api_route *r = route_of(want[i].method, want[i].pattern);
        ck_assert_msg(r != NULL, "%s is in the table", want[i].pattern);
        ck_assert_msg(((r->flags & API_ROUTE_PERSONAL) != 0) == want[i].personal, "%s %s", want[i].pattern,
                      want[i].personal ? "is access-logged" : "carries no personal data");
    }
    ck_assert_int_eq(route_of(EVHTTP_REQ_GET, "/v1/subjects/{ref}")->role, ROLE_FCR);
    ck_assert_int_eq(route_of(EVHTTP_REQ_GET, "/v1/access-log")->role, ROLE_AUDITOR);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_access");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ids_at_every_depth_sorted_once);
    tcase_add_test(tc, only_ids_count);
    tcase_add_test(tc, record_is_stamped);
    tcase_add_test(tc, personal_routes_are_marked);
    suite_add_tcase(s, tc);
    return check_run(s);
}
