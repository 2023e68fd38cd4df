/* test_event.c: feed-event parsing and validation: every field's bad forms, hostile lines, the corpus. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_event.h"
#include "check_run.h"

/* A complete, valid incident.opened event using every field the contract defines for it. */
static const char *const base_event =
    "{\"v\":1,\"event_id\":\"evt-0001\",\"type\":\"incident.opened\",\"incident_id\":\"INC-2026-0001\","
    "\"seq\":1,\"at\":\"2026-04-02T21:40:00+01:00\",\"force\":\"WM\",\"handler\":\"ch-117\","
    "\"channel\":\"emergency_call\",\"category\":\"crime\",\"opening_code\":\"ASSLT\","
    "\"qualifiers\":[\"domestic\"],"
    "\"narrative\":\"Caller says her partner hit her in the kitchen and drove off in a blue van.\","
    "\"reported_by\":\"p1\","
    "\"persons\":["
    "{\"id\":\"p1\",\"role\":\"victim\",\"kind\":\"person\",\"name\":\"Jo Bell\",\"sex\":\"female\","
    "\"age\":29,\"employer\":\"Corner Bakery\",\"vulnerable\":false,\"confirms\":true,\"traceable\":true,"
    "\"wishes\":\"supports\",\"ref\":\"CC-PERSON-88\",\"relationships\":[{\"to\":\"p2\",\"kind\":\"partner\"}]},"
    "{\"id\":\"p2\",\"role\":\"suspect\",\"sex\":\"male\",\"age\":31}],"
    "\"allegations\":["
    "{\"id\":\"a1\",\"victim\":\"p1\",\"suspects\":[\"p2\"],\"conduct\":\"assault.injury\","
    "\"occurred_at\":\"2026-04-02T21:20:00+01:00\",\"occasions\":1,"
    "\"location\":{\"force_area\":\"own\",\"premises\":\"dwelling\"},\"points_proved\":false,"
    "\"evidence_against\":false,\"police_action_requested\":true,\"withdrawn\":false,\"retracted\":false,"
    "\"note\":\"cut lip from one punch\"},"
    "{\"id\":\"a2\",\"victim\":\"p1\",\"suspects\":[\"p2\"],\"offence\":\"58A\",\"in_course_of\":\"a1\","
    "\"location\":{\"force_area\":\"own\",\"premises\":\"dwelling\"}}],"
    "\"links\":[{\"incident_id\":\"INC-2026-0000\",\"relation\":\"related\"}]}";

static int parse_text(const char *text, struct feed_event *ev, struct feed_event_error *err)
{
    return feed_event_parse(text, strlen(text), NULL, ev, err);
}

/* ---- building variants of the base event ---- */

/* Value notation for the mutation table: JSON text, or a generator for bulky values:
 * "@s:N" a string of N 'x', "@u:N" a string of N 'é' (2 bytes each), "@a:N:JSON" an array
 * holding N copies of JSON. */
static json_t *make_value(const char *spec)
{
    if (strncmp(spec, "@s:", 3) == 0 || strncmp(spec, "@u:", 3) == 0) {
        size_t n = strtoul(spec + 3, NULL, 10);
        bool wide = spec[1] == 'u';
        char *buf = malloc(n * 2 + 1);
        ck_assert_ptr_nonnull(buf);
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            if (wide) {
                buf[at++] = (char)0xC3;
                buf[at++] = (char)0xA9;
            } else {
                buf[at++] = 'x';
            }
        }
        buf[at] = '\0';
        json_t *s = json_string(buf);
        free(buf);
        return s;
    }
    if (strncmp(spec, "@a:", 3) == 0) {
        char *rest;
        size_t n = strtoul(spec + 3, &rest, 10);
        json_t *item = json_loads(rest + 1, JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(item);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append(arr, item);
        json_decref(item);
        return arr;
    }
    json_t *v = json_loads(spec, JSON_DECODE_ANY, NULL);
    ck_assert_msg(v != NULL, "bad test value %s", spec);
    return v;
}

/* Sets (value != NULL) or deletes the member at a path like "persons[0].relationships[0].kind". */
static void mutate(json_t *root, const char *path, const char *value)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *p = buf;
    for (;;) {
        char name[64] = "";
        long idx = -1;
        size_t n = strcspn(p, ".[");
        memcpy(name, p, n);
        name[n] = '\0';
        p += n;
        if (*p == '[') {
            idx = strtol(p + 1, &p, 10);
            p++; /* ']' */
        }
        bool last = *p == '\0';
        if (last && idx < 0) {
            if (value)
                json_object_set_new(cur, name, make_value(value));
            else
                json_object_del(cur, name);
            return;
        }
        json_t *next = name[0] ? json_object_get(cur, name) : cur;
        ck_assert_msg(next != NULL, "test path %s: no %s", path, name);
        if (idx >= 0) {
            if (last) {
                if (value)
                    json_array_set_new(next, (size_t)idx, make_value(value));
                else
                    json_array_remove(next, (size_t)idx);
                return;
            }
            next = json_array_get(next, (size_t)idx);
            ck_assert_msg(next != NULL, "test path %s: no index %ld", path, idx);
        }
        cur = next;
        if (*p == '.')
            p++;
    }
}

struct field_case {
    const char *label;
    const char *path, *value;   /* value NULL: delete */
    const char *path2, *value2; /* optional second change */
    const char *code;           /* NULL: must be accepted */
    const char *field;
};

#define DEL NULL

static const struct field_case field_cases[] = {
    /* v */
    {"v missing", "v", DEL, NULL, NULL, "bad_field", "v"},
    {"v null", "v", "null", NULL, NULL, "bad_field", "v"},
    {"v string", "v", "\"1\"", NULL, NULL, "bad_field", "v"},
    {"v real", "v", "1.0", NULL, NULL, "bad_field", "v"},
    {"v bool", "v", "true", NULL, NULL, "bad_field", "v"},
    {"v 2", "v", "2", NULL, NULL, "unsupported_version", "v"},
    {"v 0", "v", "0", NULL, NULL, "unsupported_version", "v"},
    {"v -1", "v", "-1", NULL, NULL, "unsupported_version", "v"},
    /* event_id */
    {"event_id missing", "event_id", DEL, NULL, NULL, "bad_field", "event_id"},
    {"event_id number", "event_id", "42", NULL, NULL, "bad_field", "event_id"},
    {"event_id empty", "event_id", "\"\"", NULL, NULL, "bad_field", "event_id"},
    {"event_id 129 chars", "event_id", "@s:129", NULL, NULL, "bad_field", "event_id"},
    {"event_id 129 wide chars", "event_id", "@u:129", NULL, NULL, "bad_field", "event_id"},
    {"event_id 128 wide chars", "event_id", "@u:128", NULL, NULL, NULL, NULL},
    {"event_id control char", "event_id", "\"evt\\u0007x\"", NULL, NULL, "bad_field", "event_id"},
    {"event_id array", "event_id", "[\"e\"]", NULL, NULL, "bad_field", "event_id"},
    /* incident_id */
    {"incident_id missing", "incident_id", DEL, NULL, NULL, "bad_field", "incident_id"},
    {"incident_id number", "incident_id", "7", NULL, NULL, "bad_field", "incident_id"},
    {"incident_id empty", "incident_id", "\"\"", NULL, NULL, "bad_field", "incident_id"},
    {"incident_id 65 chars", "incident_id", "@s:65", NULL, NULL, "bad_field", "incident_id"},
    {"incident_id 64 wide chars", "incident_id", "@u:64", NULL, NULL, NULL, NULL},
    {"incident_id newline", "incident_id", "\"INC\\n1\"", NULL, NULL, "bad_field", "incident_id"},
    /* type */
    {"type missing", "type", DEL, NULL, NULL, "bad_field", "type"},
    {"type unknown", "type", "\"incident.open\"", NULL, NULL, "bad_field", "type"},
    {"type upper case", "type", "\"INCIDENT.OPENED\"", NULL, NULL, "bad_field", "type"},
    {"type number", "type", "1", NULL, NULL, "bad_field", "type"},
    /* seq */
    {"seq missing", "seq", DEL, NULL, NULL, "bad_field", "seq"},
    {"seq zero", "seq", "0", NULL, NULL, "bad_field", "seq"},
    {"seq negative", "seq", "-5", NULL, NULL, "bad_field", "seq"},
    {"seq string", "seq", "\"1\"", NULL, NULL, "bad_field", "seq"},
    {"seq real", "seq", "1.5", NULL, NULL, "bad_field", "seq"},
    {"seq integral real", "seq", "2.0", NULL, NULL, "bad_field", "seq"},
    {"seq bool", "seq", "true", NULL, NULL, "bad_field", "seq"},
    {"seq 2^53+1", "seq", "9007199254740993", NULL, NULL, "bad_field", "seq"},
    {"seq 2^53", "seq", "9007199254740992", NULL, NULL, NULL, NULL},
    /* at */
    {"at missing", "at", DEL, NULL, NULL, "bad_field", "at"},
    {"at no offset", "at", "\"2026-04-02T21:40:00\"", NULL, NULL, "bad_field", "at"},
    {"at Feb 30", "at", "\"2026-02-30T21:40:00Z\"", NULL, NULL, "bad_field", "at"},
    {"at epoch number", "at", "1775162400", NULL, NULL, "bad_field", "at"},
    {"at empty", "at", "\"\"", NULL, NULL, "bad_field", "at"},
    /* force, handler, opening_code, closing_code: free strings */
    {"force number", "force", "5", NULL, NULL, "bad_field", "force"},
    {"force too long", "force", "@s:1025", NULL, NULL, "bad_field", "force"},
    {"force at limit", "force", "@s:1024", NULL, NULL, NULL, NULL},
    {"handler bool", "handler", "false", NULL, NULL, "bad_field", "handler"},
    {"handler too long", "handler", "@u:513", NULL, NULL, "bad_field", "handler"},
    {"opening_code number", "opening_code", "12", NULL, NULL, "bad_field", "opening_code"},
    {"opening_code too long", "opening_code", "@s:1025", NULL, NULL, "bad_field", "opening_code"},
    {"closing_code number", "closing_code", "5", NULL, NULL, "bad_field", "closing_code"},
    {"closing_code too long", "closing_code", "@s:1025", NULL, NULL, "bad_field", "closing_code"},
    /* channel */
    {"channel unknown", "channel", "\"phone\"", NULL, NULL, "bad_field", "channel"},
    {"channel number", "channel", "1", NULL, NULL, "bad_field", "channel"},
    /* category */
    {"category missing on opened", "category", DEL, NULL, NULL, "bad_field", "category"},
    {"category null on opened", "category", "null", NULL, NULL, "bad_field", "category"},
    {"category unknown", "category", "\"burglary\"", NULL, NULL, "bad_field", "category"},
    {"category number", "category", "3", NULL, NULL, "bad_field", "category"},
    {"category absent on updated", "type", "\"incident.updated\"", "category", DEL, NULL, NULL},
    /* closing_category and closing_reason */
    {"closing_category missing on closed", "type", "\"incident.closed\"", NULL, NULL, "bad_field",
     "closing_category"},
    {"closing_category given on closed", "type", "\"incident.closed\"", "closing_category", "\"crime_related\"",
     NULL, NULL},
    {"closing_category unknown", "closing_category", "\"crime-related\"", NULL, NULL, "bad_field",
     "closing_category"},
    {"closing_reason unknown", "closing_reason", "\"because\"", NULL, NULL, "bad_field", "closing_reason"},
    {"closing_reason number", "closing_reason", "1", NULL, NULL, "bad_field", "closing_reason"},
    {"closing_reason known", "closing_reason", "\"victim_not_traced\"", NULL, NULL, NULL, NULL},
    /* qualifiers */
    {"qualifiers string", "qualifiers", "\"domestic\"", NULL, NULL, "bad_field", "qualifiers"},
    {"qualifiers empty entry", "qualifiers", "[\"hate\",\"\"]", NULL, NULL, "bad_field", "qualifiers[1]"},
    {"qualifiers number entry", "qualifiers", "[1]", NULL, NULL, "bad_field", "qualifiers[0]"},
    {"qualifiers too many", "qualifiers", "@a:101:\"hate\"", NULL, NULL, "bad_field", "qualifiers"},
    {"qualifiers at limit", "qualifiers", "@a:100:\"hate\"", NULL, NULL, NULL, NULL},
    {"qualifiers entry too long", "qualifiers", "[\"hate\",\"domestic\",\"x\"]", "qualifiers[2]", "@s:1025",
     "bad_field", "qualifiers[2]"},
    {"qualifiers unknown word", "qualifiers", "[\"no_such_qualifier\"]", NULL, NULL, NULL, NULL},
    {"qualifiers empty array", "qualifiers", "[]", NULL, NULL, NULL, NULL},
    /* narrative */
    {"narrative number", "narrative", "7", NULL, NULL, "bad_field", "narrative"},
    {"narrative too long", "narrative", "@s:16385", NULL, NULL, "bad_field", "narrative"},
    {"narrative at limit", "narrative", "@s:16384", NULL, NULL, NULL, NULL},
    {"narrative empty", "narrative", "\"\"", NULL, NULL, NULL, NULL},
    /* reported_by */
    {"reported_by empty", "reported_by", "\"\"", NULL, NULL, "bad_field", "reported_by"},
    {"reported_by number", "reported_by", "5", NULL, NULL, "bad_field", "reported_by"},
    {"reported_by 65 chars", "reported_by", "@s:65", NULL, NULL, "bad_field", "reported_by"},
    {"reported_by unknown person", "reported_by", "\"p9\"", NULL, NULL, NULL, NULL},
    /* persons */
    {"persons object", "persons", "{}", NULL, NULL, "bad_field", "persons"},
    {"persons too many", "persons", "@a:201:{\"id\":\"p\",\"role\":\"witness\"}", NULL, NULL, "bad_field",
     "persons"},
    {"persons entry not object", "persons[1]", "\"p2\"", NULL, NULL, "bad_field", "persons[1]"},
    {"persons empty", "persons", "[]", NULL, NULL, NULL, NULL},
    {"person id missing", "persons[0].id", DEL, NULL, NULL, "bad_field", "persons[0].id"},
    {"person id empty", "persons[1].id", "\"\"", NULL, NULL, "bad_field", "persons[1].id"},
    {"person id number", "persons[0].id", "3", NULL, NULL, "bad_field", "persons[0].id"},
    {"person id 65 chars", "persons[0].id", "@s:65", NULL, NULL, "bad_field", "persons[0].id"},
    {"person id repeated", "persons[1].id", "\"p1\"", NULL, NULL, "bad_field", "persons[1].id"},
    {"person role missing", "persons[0].role", DEL, NULL, NULL, "bad_field", "persons[0].role"},
    {"person role unknown", "persons[1].role", "\"boss\"", NULL, NULL, "bad_field", "persons[1].role"},
    {"person role number", "persons[0].role", "1", NULL, NULL, "bad_field", "persons[0].role"},
    {"person kind unknown", "persons[0].kind", "\"company\"", NULL, NULL, "bad_field", "persons[0].kind"},
    {"person kind organisation", "persons[0].kind", "\"organisation\"", NULL, NULL, NULL, NULL},
    {"person name number", "persons[0].name", "5", NULL, NULL, "bad_field", "persons[0].name"},
    {"person name too long", "persons[0].name", "@s:1025", NULL, NULL, "bad_field", "persons[0].name"},
    {"person sex unknown", "persons[0].sex", "\"f\"", NULL, NULL, "bad_field", "persons[0].sex"},
    {"person age negative", "persons[0].age", "-1", NULL, NULL, "bad_field", "persons[0].age"},
    {"person age 131", "persons[1].age", "131", NULL, NULL, "bad_field", "persons[1].age"},
    {"person age 130", "persons[1].age", "130", NULL, NULL, NULL, NULL},
    {"person age 0", "persons[1].age", "0", NULL, NULL, NULL, NULL},
    {"person age string", "persons[0].age", "\"29\"", NULL, NULL, "bad_field", "persons[0].age"},
    {"person age real", "persons[0].age", "29.5", NULL, NULL, "bad_field", "persons[0].age"},
    {"person age bool", "persons[0].age", "true", NULL, NULL, "bad_field", "persons[0].age"},
    {"person age null", "persons[0].age", "null", NULL, NULL, NULL, NULL},
    {"person employer number", "persons[0].employer", "1", NULL, NULL, "bad_field", "persons[0].employer"},
    {"person employer too long", "persons[0].employer", "@s:1025", NULL, NULL, "bad_field",
     "persons[0].employer"},
    {"person vulnerable string", "persons[0].vulnerable", "\"yes\"", NULL, NULL, "bad_field",
     "persons[0].vulnerable"},
    {"person vulnerable number", "persons[0].vulnerable", "1", NULL, NULL, "bad_field", "persons[0].vulnerable"},
    {"person confirms string", "persons[0].confirms", "\"true\"", NULL, NULL, "bad_field",
     "persons[0].confirms"},
    {"person confirms number", "persons[0].confirms", "1", NULL, NULL, "bad_field", "persons[0].confirms"},
    {"person confirms null", "persons[0].confirms", "null", NULL, NULL, NULL, NULL},
    {"person traceable number", "persons[0].traceable", "0", NULL, NULL, "bad_field", "persons[0].traceable"},
    {"person wishes unknown", "persons[0].wishes", "\"maybe\"", NULL, NULL, "bad_field", "persons[0].wishes"},
    {"person ref number", "persons[0].ref", "88", NULL, NULL, "bad_field", "persons[0].ref"},
    {"person ref too long", "persons[0].ref", "@s:1025", NULL, NULL, "bad_field", "persons[0].ref"},
    {"relationships object", "persons[0].relationships", "{}", NULL, NULL, "bad_field",
     "persons[0].relationships"},
    {"relationships too many", "persons[0].relationships", "@a:101:{\"to\":\"p2\",\"kind\":\"family\"}", NULL,
     NULL, "bad_field", "persons[0].relationships"},
    {"relationship not object", "persons[0].relationships[0]", "\"p2\"", NULL, NULL, "bad_field",
     "persons[0].relationships[0]"},
    {"relationship to missing", "persons[0].relationships[0].to", DEL, NULL, NULL, "bad_field",
     "persons[0].relationships[0].to"},
    {"relationship to empty", "persons[0].relationships[0].to", "\"\"", NULL, NULL, "bad_field",
     "persons[0].relationships[0].to"},
    {"relationship to number", "persons[0].relationships[0].to", "2", NULL, NULL, "bad_field",
     "persons[0].relationships[0].to"},
    {"relationship kind missing", "persons[0].relationships[0].kind", DEL, NULL, NULL, "bad_field",
     "persons[0].relationships[0].kind"},
    {"relationship kind unknown", "persons[0].relationships[0].kind", "\"friend\"", NULL, NULL, "bad_field",
     "persons[0].relationships[0].kind"},
    /* allegations */
    {"allegations object", "allegations", "{\"id\":\"a1\"}", NULL, NULL, "bad_field", "allegations"},
    {"allegations too many", "allegations", "@a:201:{\"id\":\"a\",\"offence\":\"8N\"}", NULL, NULL, "bad_field",
     "allegations"},
    {"allegation not object", "allegations[0]", "[]", NULL, NULL, "bad_field", "allegations[0]"},
    {"allegation id missing", "allegations[1].id", DEL, NULL, NULL, "bad_field", "allegations[1].id"},
    {"allegation id empty", "allegations[0].id", "\"\"", NULL, NULL, "bad_field", "allegations[0].id"},
    {"allegation id 65 chars", "allegations[0].id", "@s:65", NULL, NULL, "bad_field", "allegations[0].id"},
    {"allegation id repeated", "allegations[1].in_course_of", DEL, "allegations[1].id", "\"a1\"", "bad_field",
     "allegations[1].id"},
    {"allegation neither offence nor conduct", "allegations[0].conduct", DEL, NULL, NULL, "bad_field",
     "allegations[0].offence"},
    {"allegation offence and conduct null", "allegations[1].offence", "null", "allegations[1].conduct", "null",
     "bad_field", "allegations[1].offence"},
    {"allegation both offence and conduct", "allegations[0].offence", "\"8N\"", NULL, NULL, NULL, NULL},
    {"allegation offence number", "allegations[1].offence", "58", NULL, NULL, "bad_field",
     "allegations[1].offence"},
    {"allegation offence empty", "allegations[1].offence", "\"\"", NULL, NULL, "bad_field",
     "allegations[1].offence"},
    {"allegation offence too long", "allegations[1].offence", "@s:1025", NULL, NULL, "bad_field",
     "allegations[1].offence"},
    {"allegation conduct empty", "allegations[0].conduct", "\"\"", NULL, NULL, "bad_field",
     "allegations[0].conduct"},
    {"allegation conduct number", "allegations[0].conduct", "1", NULL, NULL, "bad_field",
     "allegations[0].conduct"},
    {"allegation conduct unknown key", "allegations[0].conduct", "\"no.such.conduct\"", NULL, NULL, NULL, NULL},
    {"allegation victim number", "allegations[0].victim", "5", NULL, NULL, "bad_field", "allegations[0].victim"},
    {"allegation victim empty", "allegations[0].victim", "\"\"", NULL, NULL, "bad_field",
     "allegations[0].victim"},
    {"allegation victim null", "allegations[0].victim", "null", NULL, NULL, NULL, NULL},
    {"allegation victim absent", "allegations[0].victim", DEL, NULL, NULL, NULL, NULL},
    {"allegation suspects string", "allegations[0].suspects", "\"p2\"", NULL, NULL, "bad_field",
     "allegations[0].suspects"},
    {"allegation suspects empty entry", "allegations[0].suspects", "[\"p2\",\"\"]", NULL, NULL, "bad_field",
     "allegations[0].suspects[1]"},
    {"allegation suspects number entry", "allegations[1].suspects", "[2]", NULL, NULL, "bad_field",
     "allegations[1].suspects[0]"},
    {"allegation suspects too many", "allegations[0].suspects", "@a:101:\"p2\"", NULL, NULL, "bad_field",
     "allegations[0].suspects"},
    {"allegation suspects empty", "allegations[0].suspects", "[]", NULL, NULL, NULL, NULL},
    {"allegation occurred_at bad", "allegations[0].occurred_at", "\"yesterday\"", NULL, NULL, "bad_field",
     "allegations[0].occurred_at"},
    {"allegation occurred_at number", "allegations[0].occurred_at", "5", NULL, NULL, "bad_field",
     "allegations[0].occurred_at"},
    {"allegation occasions zero", "allegations[0].occasions", "0", NULL, NULL, "bad_field",
     "allegations[0].occasions"},
    {"allegation occasions 10001", "allegations[0].occasions", "10001", NULL, NULL, "bad_field",
     "allegations[0].occasions"},
    {"allegation occasions 10000", "allegations[0].occasions", "10000", NULL, NULL, NULL, NULL},
    {"allegation occasions string", "allegations[0].occasions", "\"2\"", NULL, NULL, "bad_field",
     "allegations[0].occasions"},
    {"allegation occasions real", "allegations[0].occasions", "1.5", NULL, NULL, "bad_field",
     "allegations[0].occasions"},
    {"allegation value_gbp integer", "allegations[0].value_gbp", "6500", NULL, NULL, NULL, NULL},
    {"allegation value_gbp pence", "allegations[0].value_gbp", "120.75", NULL, NULL, NULL, NULL},
    {"allegation value_gbp zero", "allegations[0].value_gbp", "0", NULL, NULL, NULL, NULL},
    {"allegation value_gbp negative", "allegations[0].value_gbp", "-1", NULL, NULL, "bad_field",
     "allegations[0].value_gbp"},
    {"allegation value_gbp negative real", "allegations[0].value_gbp", "-0.5", NULL, NULL, "bad_field",
     "allegations[0].value_gbp"},
    {"allegation value_gbp string", "allegations[0].value_gbp", "\"6500\"", NULL, NULL, "bad_field",
     "allegations[0].value_gbp"},
    {"allegation value_gbp pounds sign", "allegations[0].value_gbp", "\"\u00a36,500\"", NULL, NULL, "bad_field",
     "allegations[0].value_gbp"},
    {"allegation value_gbp null", "allegations[0].value_gbp", "null", NULL, NULL, NULL, NULL},
    {"allegation value_gbp boolean", "allegations[0].value_gbp", "true", NULL, NULL, "bad_field",
     "allegations[0].value_gbp"},
    {"allegation value_gbp huge", "allegations[0].value_gbp", "1e13", NULL, NULL, "bad_field",
     "allegations[0].value_gbp"},
    {"allegation value_gbp second allegation", "allegations[1].value_gbp", "-3", NULL, NULL, "bad_field",
     "allegations[1].value_gbp"},
    {"allegation in_course_of number", "allegations[1].in_course_of", "1", NULL, NULL, "bad_field",
     "allegations[1].in_course_of"},
    {"allegation in_course_of empty", "allegations[1].in_course_of", "\"\"", NULL, NULL, "bad_field",
     "allegations[1].in_course_of"},
    {"allegation in_course_of itself", "allegations[1].in_course_of", "\"a2\"", NULL, NULL, "bad_field",
     "allegations[1].in_course_of"},
    {"allegation in_course_of earlier event", "allegations[1].in_course_of", "\"a0\"", NULL, NULL, NULL, NULL},
    {"location string", "allegations[0].location", "\"own\"", NULL, NULL, "bad_field",
     "allegations[0].location"},
    {"location force_area missing", "allegations[1].location.force_area", DEL, NULL, NULL, "bad_field",
     "allegations[1].location.force_area"},
    {"location force_area unknown", "allegations[0].location.force_area", "\"elsewhere\"", NULL, NULL,
     "bad_field", "allegations[0].location.force_area"},
    {"location premises unknown", "allegations[0].location.premises", "\"house\"", NULL, NULL, "bad_field",
     "allegations[0].location.premises"},
    {"location other_force number", "allegations[0].location.other_force", "5", NULL, NULL, "bad_field",
     "allegations[0].location.other_force"},
    {"location other force", "allegations[0].location.force_area", "\"other\"",
     "allegations[0].location.other_force", "\"NMP\"", NULL, NULL},
    {"allegation points_proved string", "allegations[0].points_proved", "\"true\"", NULL, NULL, "bad_field",
     "allegations[0].points_proved"},
    {"allegation evidence_against number", "allegations[0].evidence_against", "1", NULL, NULL, "bad_field",
     "allegations[0].evidence_against"},
    {"allegation police_action_requested string", "allegations[0].police_action_requested", "\"yes\"", NULL,
     NULL, "bad_field", "allegations[0].police_action_requested"},
    {"allegation withdrawn string", "allegations[0].withdrawn", "\"no\"", NULL, NULL, "bad_field",
     "allegations[0].withdrawn"},
    {"allegation retracted number", "allegations[0].retracted", "0", NULL, NULL, "bad_field",
     "allegations[0].retracted"},
    {"allegation note number", "allegations[0].note", "5", NULL, NULL, "bad_field", "allegations[0].note"},
    {"allegation note too long", "allegations[0].note", "@s:1025", NULL, NULL, "bad_field",
     "allegations[0].note"},
    /* links */
    {"links object", "links", "{}", NULL, NULL, "bad_field", "links"},
    {"links too many", "links", "@a:101:{\"incident_id\":\"X\",\"relation\":\"related\"}", NULL, NULL, "bad_field",
     "links"},
    {"link not object", "links[0]", "\"INC-2026-0000\"", NULL, NULL, "bad_field", "links[0]"},
    {"link incident_id missing", "links[0].incident_id", DEL, NULL, NULL, "bad_field", "links[0].incident_id"},
    {"link incident_id empty", "links[0].incident_id", "\"\"", NULL, NULL, "bad_field", "links[0].incident_id"},
    {"link incident_id 65 chars", "links[0].incident_id", "@s:65", NULL, NULL, "bad_field",
     "links[0].incident_id"},
    {"link relation missing", "links[0].relation", DEL, NULL, NULL, "bad_field", "links[0].relation"},
    {"link relation unknown", "links[0].relation", "\"duplicate\"", NULL, NULL, "bad_field", "links[0].relation"},
    {"link same_report", "links[0].relation", "\"same_report\"", NULL, NULL, NULL, NULL},
    /* first error wins: the identity fields are checked before the rest */
    {"v before seq", "v", "2", "seq", "0", "unsupported_version", "v"},
    {"event_id before persons", "event_id", "1", "persons", "5", "bad_field", "event_id"},
};

START_TEST(field_case)
{
    const struct field_case *fc = &field_cases[_i];
    json_t *doc = json_loads(base_event, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    mutate(doc, fc->path, fc->value);
    if (fc->path2)
        mutate(doc, fc->path2, fc->value2);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    struct feed_event ev;
    struct feed_event_error err;
    int rc = parse_text(text, &ev, &err);
    if (!fc->code) {
        ck_assert_msg(rc == 0, "%s: rejected: %s %s: %s", fc->label, err.code, err.field, err.message);
        ck_assert_int_eq(json_array_size(ev.warnings), 0);
    } else {
        ck_assert_msg(rc == -1, "%s: accepted", fc->label);
        ck_assert_msg(strcmp(err.code, fc->code) == 0, "%s: code %s, want %s", fc->label, err.code, fc->code);
        ck_assert_msg(strcmp(err.field, fc->field) == 0, "%s: field \"%s\", want \"%s\"", fc->label, err.field,
                      fc->field);
        ck_assert_msg(strstr(err.message, fc->field) != NULL, "%s: message does not name the field: %s",
                      fc->label, err.message);
        json_t *m = json_string(err.message);
        ck_assert_msg(m != NULL, "%s: message is not valid UTF-8", fc->label);
        json_decref(m);
    }
    feed_event_clear(&ev);
    feed_event_error_clear(&err);
    free(text);
}
END_TEST

/* The fields are checked in the contract's order, not the sender's: the same two mistakes give
 * the same error whichever key comes first on the line. */
START_TEST(first_error_whatever_the_key_order)
{
    static const char *const lines[] = {
        "{\"v\":1,\"event_id\":\"e\",\"incident_id\":\"I\",\"type\":\"incident.opened\",\"seq\":0,"
        "\"at\":\"2026-04-02T22:00:00Z\",\"category\":\"weather\"}",
        "{\"category\":\"weather\",\"at\":\"2026-04-02T22:00:00Z\",\"seq\":0,\"type\":\"incident.opened\","
        "\"incident_id\":\"I\",\"event_id\":\"e\",\"v\":1}",
    };
    for (size_t i = 0; i < 2; i++) {
        struct feed_event ev;
        struct feed_event_error err;
        ck_assert_int_eq(parse_text(lines[i], &ev, &err), -1);
        ck_assert_str_eq(err.field, "seq");
        feed_event_error_clear(&err);
    }
    static const char *const persons[] = {"[{\"id\":\"\",\"role\":\"king\"}]", "[{\"role\":\"king\",\"id\":\"\"}]"};
    for (size_t i = 0; i < 2; i++) {
        char line[512];
        snprintf(line, sizeof line,
                 "{\"v\":1,\"event_id\":\"e\",\"incident_id\":\"I\",\"type\":\"incident.updated\",\"seq\":1,"
                 "\"at\":\"2026-04-02T22:00:00Z\",\"persons\":%s}",
                 persons[i]);
        struct feed_event ev;
        struct feed_event_error err;
        ck_assert_int_eq(parse_text(line, &ev, &err), -1);
        ck_assert_str_eq(err.field, "persons[0].id");
        feed_event_error_clear(&err);
    }
}
END_TEST

/* Array paths count past one digit: the twelfth person is persons[11]. */
START_TEST(array_paths_count_past_one_digit)
{
    char line[4096];
    size_t n = (size_t)snprintf(line, sizeof line,
                                "{\"v\":1,\"event_id\":\"e\",\"incident_id\":\"I\",\"type\":\"incident.updated\","
                                "\"seq\":1,\"at\":\"2026-04-02T22:00:00Z\",\"persons\":[");
    for (int i = 0; i < 12; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%s{\"id\":\"p%d\",\"role\":\"%s\"}", i ? "," : "", i,
                              i == 11 ? "king" : "witness");
    snprintf(line + n, sizeof line - n, "]}");
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(parse_text(line, &ev, &err), -1);
    ck_assert_str_eq(err.field, "persons[11].role");
    ck_assert_ptr_nonnull(strstr(err.message, "persons[11].role"));
    feed_event_error_clear(&err);
}
END_TEST

/* ---- the valid event and what it yields ---- */

START_TEST(base_event_parses)
{
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(parse_text(base_event, &ev, &err), 0);
    ck_assert_str_eq(ev.event_id, "evt-0001");
    ck_assert_str_eq(ev.incident_id, "INC-2026-0001");
    ck_assert_int_eq(ev.type, FEED_EVENT_OPENED);
    ck_assert_int_eq(ev.seq, 1);
    ck_assert(ev.at_ms == 1775162400000); /* 2026-04-02T20:40:00Z */
    ck_assert_ptr_nonnull(ev.doc);
    ck_assert_ptr_nonnull(ev.canon);
    ck_assert(json_is_array(ev.warnings));
    ck_assert_int_eq(json_array_size(ev.warnings), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(ev.doc, "persons"), 0),
                                                       "name")),
                     "Jo Bell");
    ck_assert_ptr_null(err.code);
    ck_assert_ptr_null(err.event_id);
    feed_event_clear(&ev);
    ck_assert_ptr_null(ev.doc);
    feed_event_clear(&ev); /* twice is harmless */
    feed_event_clear(NULL);
    feed_event_error_clear(&err);
    feed_event_error_clear(NULL);
}
END_TEST

START_TEST(minimal_update_and_close)
{
    struct feed_event ev;
    struct feed_event_error err;
    const char *upd = "{\"v\":1,\"event_id\":\"e2\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":2,"
                      "\"at\":\"2026-04-02T22:00:00Z\"}";
    ck_assert_int_eq(parse_text(upd, &ev, &err), 0);
    ck_assert_int_eq(ev.type, FEED_EVENT_UPDATED);
    ck_assert_int_eq(ev.seq, 2);
    feed_event_clear(&ev);
    const char *cls = "{\"v\":1,\"event_id\":\"e3\",\"type\":\"incident.closed\",\"incident_id\":\"I\",\"seq\":3,"
                      "\"at\":\"2026-04-02T23:00:00Z\",\"closing_category\":\"crime_related\"}";
    ck_assert_int_eq(parse_text(cls, &ev, &err), 0); /* no closing_reason: allowed */
    ck_assert_int_eq(ev.type, FEED_EVENT_CLOSED);
    feed_event_clear(&ev);
}
END_TEST

START_TEST(type_names)
{
    ck_assert_str_eq(feed_event_type_name(FEED_EVENT_OPENED), "incident.opened");
    ck_assert_str_eq(feed_event_type_name(FEED_EVENT_UPDATED), "incident.updated");
    ck_assert_str_eq(feed_event_type_name(FEED_EVENT_CLOSED), "incident.closed");
    ck_assert_str_eq(feed_event_type_name((enum feed_event_type)0), "unknown");
}
END_TEST

START_TEST(limits_default_values)
{
    struct feed_event_limits lim;
    feed_event_limits_default(&lim);
    ck_assert_uint_eq(lim.max_narrative, 16384);
    ck_assert_uint_eq(lim.max_persons, 200);
    ck_assert_uint_eq(lim.max_allegations, 200);
    ck_assert_uint_eq(lim.max_array, 100);
    ck_assert_uint_eq(lim.max_string, 1024);
}
END_TEST

START_TEST(custom_limits_apply)
{
    struct feed_event_limits lim;
    feed_event_limits_default(&lim);
    lim.max_persons = 1;
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(feed_event_parse(base_event, strlen(base_event), &lim, &ev, &err), -1);
    ck_assert_str_eq(err.code, "bad_field");
    ck_assert_str_eq(err.field, "persons");
    feed_event_error_clear(&err);

    feed_event_limits_default(&lim);
    lim.max_string = 4; /* "evt-0001" is 8 bytes */
    ck_assert_int_eq(feed_event_parse(base_event, strlen(base_event), &lim, &ev, &err), -1);
    ck_assert_str_eq(err.field, "event_id");
    feed_event_error_clear(&err);

    feed_event_limits_default(&lim);
    lim.max_narrative = 10;
    ck_assert_int_eq(feed_event_parse(base_event, strlen(base_event), &lim, &ev, &err), -1);
    ck_assert_str_eq(err.field, "narrative");
    feed_event_error_clear(&err);
}
END_TEST

/* ---- memory bounds: tokens counted before parsing, unknown fields' size, the charge ---- */

START_TEST(tokens_counted_outside_strings)
{
    ck_assert_uint_eq(feed_event_tokens("{}", 2), 1);
    ck_assert_uint_eq(feed_event_tokens("[1,2,3]", 7), 3);
    ck_assert_uint_eq(feed_event_tokens("{\"a\":[{},{}]}", 14), 6); /* {, "a", [, {, ",", { */
    /* brackets, commas and escaped quotes inside a string are not tokens */
    const char *s = "{\"k\":\"a,[{\\\",b\"}";
    ck_assert_uint_eq(feed_event_tokens(s, strlen(s)), 3);
}
END_TEST

/* base_event with `extra` (",\"x\":...") put before its closing brace. Caller frees. */
static char *base_with(const char *extra)
{
    size_t n = strlen(base_event), m = strlen(extra);
    char *t = malloc(n + m + 1);
    ck_assert_ptr_nonnull(t);
    snprintf(t, n + m + 1, "%.*s%s}", (int)(n - 1), base_event, extra);
    return t;
}

START_TEST(too_many_tokens_is_refused_unparsed)
{
    struct feed_event_limits lim;
    feed_event_limits_default(&lim);
    ck_assert_uint_eq(lim.max_tokens, 16384);
    size_t base_tokens = feed_event_tokens(base_event, strlen(base_event));
    struct feed_event ev;
    struct feed_event_error err;
    lim.max_tokens = base_tokens;
    ck_assert_int_eq(feed_event_parse(base_event, strlen(base_event), &lim, &ev, &err), 0);
    ck_assert_uint_eq(ev.bytes, feed_event_cost(strlen(base_event), base_tokens));
    feed_event_clear(&ev);
    lim.max_tokens = base_tokens - 1;
    ck_assert_int_eq(feed_event_parse(base_event, strlen(base_event), &lim, &ev, &err), -1);
    ck_assert_str_eq(err.code, "too_many_tokens");
    ck_assert_ptr_nonnull(strstr(err.message, "max_tokens"));
    ck_assert_ptr_null(err.event_id); /* not parsed: nothing read from it */
    feed_event_error_clear(&err);
}
END_TEST

START_TEST(unknown_fields_bounded_in_total)
{
    struct feed_event_limits lim;
    feed_event_limits_default(&lim);
    ck_assert_uint_eq(lim.max_unknown_bytes, 32768);
    /* "x_a":[1,2] is 3 + 5 bytes, persons[0].x_b "abc" is 3 + 5: 16 in all */
    char *line = base_with(",\"x_a\":[1,2]");
    const char *p1 = strstr(line, "{\"id\":\"p1\",");
    ck_assert_ptr_nonnull(p1);
    size_t n = strlen(line) + 16, at = (size_t)(p1 - line) + 1;
    char *two = malloc(n);
    ck_assert_ptr_nonnull(two);
    snprintf(two, n, "%.*s%s%s", (int)at, line, "\"x_b\":\"abc\",", line + at);
    struct feed_event ev;
    struct feed_event_error err;
    lim.max_unknown_bytes = 16;
    ck_assert_int_eq(feed_event_parse(two, strlen(two), &lim, &ev, &err), 0);
    ck_assert_uint_eq(json_array_size(ev.warnings), 2);
    feed_event_clear(&ev);
    lim.max_unknown_bytes = 15; /* the second unknown field, wherever it is, takes it over */
    ck_assert_int_eq(feed_event_parse(two, strlen(two), &lim, &ev, &err), -1);
    ck_assert_str_eq(err.code, "bad_field");
    ck_assert_ptr_nonnull(strstr(err.message, "max_unknown_bytes"));
    ck_assert_msg(strcmp(err.field, "x_a") == 0 || strcmp(err.field, "persons[0].x_b") == 0, "%s", err.field);
    ck_assert_str_eq(err.event_id, "evt-0001");
    feed_event_error_clear(&err);
    lim.max_unknown_bytes = 0;
    ck_assert_int_eq(feed_event_parse(line, strlen(line), &lim, &ev, &err), -1);
    ck_assert_str_eq(err.field, "x_a");
    feed_event_error_clear(&err);
    free(two);
    free(line);
}
END_TEST

START_TEST(cost_bounds_what_a_line_holds)
{
    /* never less than the text held three times over, and growing with the tokens */
    ck_assert_uint_ge(feed_event_cost(65536, 0), 3 * 65536);
    ck_assert_uint_gt(feed_event_cost(100, 1000), feed_event_cost(100, 10));
    /* a 64 KiB line dense with empty objects (measured at some 5 MB parsed) is charged more */
    ck_assert_uint_gt(feed_event_cost(65536, 43000), 5u << 20);
}
END_TEST

/* ---- identity echo ---- */

START_TEST(identity_echoed_on_rejection)
{
    struct feed_event ev;
    struct feed_event_error err;
    const char *line = "{\"v\":1,\"event_id\":\"e-echo\",\"type\":\"incident.updated\",\"incident_id\":\"I-echo\","
                       "\"seq\":0,\"at\":\"2026-04-02T22:00:00Z\"}";
    ck_assert_int_eq(parse_text(line, &ev, &err), -1);
    ck_assert_str_eq(err.field, "seq");
    ck_assert_str_eq(err.event_id, "e-echo");
    ck_assert_str_eq(err.incident_id, "I-echo");
    feed_event_error_clear(&err);
    ck_assert_ptr_null(err.event_id);

    /* version error: identity still echoed */
    line = "{\"v\":2,\"event_id\":\"e-v2\",\"incident_id\":\"I-v2\"}";
    ck_assert_int_eq(parse_text(line, &ev, &err), -1);
    ck_assert_str_eq(err.code, "unsupported_version");
    ck_assert_str_eq(err.event_id, "e-v2");
    ck_assert_str_eq(err.incident_id, "I-v2");
    feed_event_error_clear(&err);

    /* a malformed event_id is not echoed, a good incident_id still is */
    line = "{\"v\":1,\"event_id\":17,\"incident_id\":\"I-ok\"}";
    ck_assert_int_eq(parse_text(line, &ev, &err), -1);
    ck_assert_str_eq(err.field, "event_id");
    ck_assert_ptr_null(err.event_id);
    ck_assert_str_eq(err.incident_id, "I-ok");
    feed_event_error_clear(&err);

    /* nothing to echo when the line is not JSON */
    ck_assert_int_eq(parse_text("{\"event_id\":\"x\"", &ev, &err), -1);
    ck_assert_str_eq(err.code, "bad_json");
    ck_assert_ptr_null(err.event_id);
    ck_assert_ptr_null(err.incident_id);
    feed_event_error_clear(&err);
}
END_TEST

/* ---- hostile and malformed lines ---- */

static void expect_bad_json(const char *line, size_t len)
{
    struct feed_event ev;
    struct feed_event_error err;
    int rc = feed_event_parse(line, len, NULL, &ev, &err);
    ck_assert_msg(rc == -1, "accepted: %.*s", (int)(len > 60 ? 60 : len), line);
    ck_assert_msg(strcmp(err.code, "bad_json") == 0, "code %s for %.*s", err.code, (int)(len > 60 ? 60 : len),
                  line);
    ck_assert_str_eq(err.field, "");
    ck_assert_msg(err.message[0] != '\0', "empty message");
    /* the message must always be usable as a JSON string */
    json_t *m = json_string(err.message);
    ck_assert_ptr_nonnull(m);
    json_decref(m);
    ck_assert_ptr_null(ev.doc);
    feed_event_error_clear(&err);
}

#define BAD_JSON(lit) expect_bad_json(lit, sizeof(lit) - 1)

START_TEST(duplicate_keys)
{
    BAD_JSON("{\"v\":1,\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
             "\"at\":\"2026-04-02T22:00:00Z\"}");
    /* nested, and made equal only by an escape */
    BAD_JSON("{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
             "\"at\":\"2026-04-02T22:00:00Z\",\"persons\":[{\"id\":\"p1\",\"role\":\"victim\",\"\\u0069d\":\"p2\"}]}");
}
END_TEST

START_TEST(invalid_utf8)
{
    BAD_JSON("{\"v\":1,\"event_id\":\"e\xff\"}");              /* never valid */
    BAD_JSON("{\"v\":1,\"event_id\":\"e\x80\"}");              /* lone continuation byte */
    BAD_JSON("{\"v\":1,\"event_id\":\"e\xc3\"}");              /* truncated sequence */
    BAD_JSON("{\"v\":1,\"event_id\":\"e\xc0\xaf\"}");          /* overlong '/' */
    BAD_JSON("{\"v\":1,\"event_id\":\"e\xed\xa0\x80\"}");      /* UTF-16 surrogate encoded */
    BAD_JSON("{\"v\":1,\"event_id\":\"e\xf4\x90\x80\x80\"}");  /* above U+10FFFF */
    BAD_JSON("{\"v\":1,\"\xfe\":1}");                          /* in a key */
    BAD_JSON("{\"v\":1,\"event_id\":\"\\ud800\"}");            /* lone surrogate escape */
    BAD_JSON("\xef\xbb\xbf{\"v\":1}");                         /* byte-order mark */
}
END_TEST

START_TEST(nul_bytes)
{
    BAD_JSON("{\"v\":1,\"event_id\":\"e\0x\"}");  /* raw NUL inside a string */
    BAD_JSON("{\"v\":1}\0");                       /* raw NUL after the object */
    BAD_JSON("{\"v\":1,\"event_id\":\"e\\u0000x\"}"); /* escaped NUL */
    BAD_JSON("{\"v\":1,\"e\\u0000\":1}");            /* escaped NUL in a key */
}
END_TEST

START_TEST(control_characters)
{
    BAD_JSON("{\"v\":1,\"narrative\":\"line\nbreak\"}"); /* raw control character in a string */
    BAD_JSON("{\"v\":1,\"narrative\":\"tab\there\"}");
    BAD_JSON("\x01{\"v\":1}");
}
END_TEST

static char *nested(size_t depth, const char *open, const char *close, const char *inner)
{
    size_t lo = strlen(open), lc = strlen(close), li = strlen(inner);
    char *s = malloc(li + depth * (lo + lc) + 1);
    if (!s)
        abort();
    char *p = s;
    for (size_t i = 0; i < depth; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, inner, li);
    p += li;
    for (size_t i = 0; i < depth; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

START_TEST(deep_nesting)
{
    /* an unknown field nested to exactly the limit is kept with a warning */
    char *inner = nested(FEED_EVENT_MAX_DEPTH - 1, "[", "]", "1");
    char line[4096];
    snprintf(line, sizeof line,
             "{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
             "\"at\":\"2026-04-02T22:00:00Z\",\"deep\":%s}",
             inner);
    free(inner);
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(parse_text(line, &ev, &err), 0);
    ck_assert_int_eq(json_array_size(ev.warnings), 1);
    feed_event_clear(&ev);

    /* one more level is refused */
    inner = nested(FEED_EVENT_MAX_DEPTH, "[", "]", "1");
    snprintf(line, sizeof line,
             "{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
             "\"at\":\"2026-04-02T22:00:00Z\",\"deep\":%s}",
             inner);
    free(inner);
    expect_bad_json(line, strlen(line));

    /* far past the parser's own limit, objects and arrays */
    char *deep = nested(100000, "[", "]", "");
    expect_bad_json(deep, strlen(deep));
    free(deep);
    deep = nested(50000, "{\"a\":", "}", "1");
    expect_bad_json(deep, strlen(deep));
    free(deep);
    /* unbalanced: opens only */
    deep = nested(5000, "[", "", "");
    expect_bad_json(deep, strlen(deep));
    free(deep);

    /* brackets inside strings do not count as nesting */
    char *brackets = nested(200, "[", "", "");
    snprintf(line, sizeof line,
             "{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
             "\"at\":\"2026-04-02T22:00:00Z\",\"narrative\":\"%s \\\" {{{\"}",
             brackets);
    free(brackets);
    ck_assert_int_eq(parse_text(line, &ev, &err), 0);
    feed_event_clear(&ev);
}
END_TEST

START_TEST(not_an_object)
{
    BAD_JSON("[]");
    BAD_JSON("[{\"v\":1}]");
    BAD_JSON("\"v\"");
    BAD_JSON("1");
    BAD_JSON("null");
    BAD_JSON("true");
    BAD_JSON("");
    BAD_JSON("   ");
    BAD_JSON("{");
    BAD_JSON("{\"v\":1}}");
    BAD_JSON("{\"v\":1} {\"v\":1}");
    BAD_JSON("{'v':1}");
    BAD_JSON("{v:1}");
    BAD_JSON("{\"v\":1,}");
    BAD_JSON("{\"v\":01}");
    BAD_JSON("{\"v\":NaN}");
    BAD_JSON("{\"v\":Infinity}");
    BAD_JSON("{\"v\":1 /* comment */}");
}
END_TEST

START_TEST(huge_numbers)
{
    BAD_JSON("{\"v\":1,\"event_id\":\"e\",\"seq\":99999999999999999999999999}");
    BAD_JSON("{\"v\":99999999999999999999,\"event_id\":\"e\"}");
    BAD_JSON("{\"v\":1,\"event_id\":\"e\",\"seq\":-99999999999999999999999999}");
    BAD_JSON("{\"v\":1,\"event_id\":\"e\",\"seq\":1e400}");
    /* in range for jansson but not for the contract: bad_field, not bad_json */
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(parse_text("{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\","
                                "\"seq\":9223372036854775807,\"at\":\"2026-04-02T22:00:00Z\"}",
                                &ev, &err),
                     -1);
    ck_assert_str_eq(err.code, "bad_field");
    ck_assert_str_eq(err.field, "seq");
    feed_event_error_clear(&err);
}
END_TEST

START_TEST(version_forms)
{
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(parse_text("{\"v\":2,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\","
                                "\"seq\":1,\"at\":\"2026-04-02T22:00:00Z\"}",
                                &ev, &err),
                     -1);
    ck_assert_str_eq(err.code, "unsupported_version");
    ck_assert_str_eq(err.field, "v");
    feed_event_error_clear(&err);
    ck_assert_int_eq(parse_text("{\"v\":\"1\",\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\","
                                "\"seq\":1,\"at\":\"2026-04-02T22:00:00Z\"}",
                                &ev, &err),
                     -1);
    ck_assert_str_eq(err.code, "bad_field");
    ck_assert_str_eq(err.field, "v");
    feed_event_error_clear(&err);
}
END_TEST

/* ---- canonical form ---- */

static char *canon_of(const char *line)
{
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_msg(parse_text(line, &ev, &err) == 0, "rejected %s: %s", line, err.message);
    char *c = strdup(ev.canon);
    feed_event_clear(&ev);
    return c;
}

START_TEST(canon_equal_for_reordered_keys)
{
    char *a = canon_of("{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
                       "\"at\":\"2026-04-02T22:00:00Z\",\"persons\":[{\"id\":\"p\",\"role\":\"victim\",\"age\":4}]}");
    char *b = canon_of("  { \"persons\" : [ { \"age\":4, \"role\":\"victim\", \"id\":\"\\u0070\" } ], "
                       "\"at\":\"2026-04-02T22:00:00Z\", \"seq\":1, \"incident_id\":\"I\","
                       "\"type\":\"incident.updated\", \"event_id\":\"e\", \"v\":1 }  ");
    ck_assert_str_eq(a, b);
    /* a null optional field is the same content as its absence */
    char *c = canon_of("{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
                       "\"at\":\"2026-04-02T22:00:00Z\",\"narrative\":null,"
                       "\"persons\":[{\"id\":\"p\",\"role\":\"victim\",\"age\":4,\"sex\":null}]}");
    ck_assert_str_eq(a, c);
    /* different content, different canon: array order matters, values matter */
    char *d = canon_of("{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
                       "\"at\":\"2026-04-02T22:00:00Z\",\"persons\":[{\"id\":\"p\",\"role\":\"victim\",\"age\":5}]}");
    ck_assert_str_ne(a, d);
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(null_handling)
{
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(parse_text("{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\","
                                "\"seq\":1,\"at\":\"2026-04-02T22:00:00Z\",\"channel\":null,"
                                "\"persons\":[{\"id\":\"p\",\"role\":\"victim\",\"confirms\":null,\"age\":null}],"
                                "\"allegations\":[{\"id\":\"a\",\"offence\":\"92E\",\"victim\":null}]}",
                                &ev, &err),
                     0);
    ck_assert_ptr_null(json_object_get(ev.doc, "channel"));
    json_t *p = json_array_get(json_object_get(ev.doc, "persons"), 0);
    ck_assert(json_is_null(json_object_get(p, "confirms"))); /* kept: "not yet asked" */
    ck_assert_ptr_null(json_object_get(p, "age"));
    json_t *a = json_array_get(json_object_get(ev.doc, "allegations"), 0);
    ck_assert_ptr_null(json_object_get(a, "victim"));
    ck_assert_int_eq(json_array_size(ev.warnings), 0);
    feed_event_clear(&ev);
}
END_TEST

/* ---- unknown fields ---- */

START_TEST(unknown_fields_warn)
{
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(parse_text("{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\","
                                "\"seq\":1,\"at\":\"2026-04-02T22:00:00Z\",\"priority\":\"P1\","
                                "\"persons\":[{\"id\":\"p\",\"role\":\"victim\",\"nickname\":\"Jo\","
                                "\"relationships\":[{\"to\":\"q\",\"kind\":\"family\",\"since\":2019}]}],"
                                "\"allegations\":[{\"id\":\"a\",\"offence\":\"8N\","
                                "\"location\":{\"force_area\":\"own\",\"postcode\":\"B1 1AA\"}}],"
                                "\"links\":[{\"incident_id\":\"J\",\"relation\":\"related\",\"note\":\"x\"}]}",
                                &ev, &err),
                     0);
    const char *want[] = {"persons[0].relationships[0].since", "persons[0].nickname",
                          "allegations[0].location.postcode", "links[0].note", "priority"};
    size_t n = sizeof want / sizeof want[0];
    ck_assert_int_eq(json_array_size(ev.warnings), n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        size_t j;
        json_t *w;
        json_array_foreach(ev.warnings, j, w) {
            if (strcmp(json_string_value(json_object_get(w, "field")), want[i]) == 0) {
                found = true;
                ck_assert_str_eq(json_string_value(json_object_get(w, "code")), "unknown_field");
                ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(w, "message")), want[i]));
            }
        }
        ck_assert_msg(found, "no warning for %s", want[i]);
    }
    /* the unknown field stays in the document */
    ck_assert_str_eq(json_string_value(json_object_get(ev.doc, "priority")), "P1");
    feed_event_clear(&ev);
}
END_TEST

START_TEST(unknown_fields_bounded)
{
    char line[8192];
    int n = snprintf(line, sizeof line,
                     "{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
                     "\"at\":\"2026-04-02T22:00:00Z\"");
    for (int i = 0; i < 100; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, ",\"x%d\":%d", i, i);
    /* one very long unknown key with a multi-byte character around the cut */
    n += snprintf(line + n, sizeof line - (size_t)n, ",\"");
    for (int i = 0; i < 300; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, "\xc3\xa9");
    snprintf(line + n, sizeof line - (size_t)n, "\":1}");
    struct feed_event ev;
    struct feed_event_error err;
    ck_assert_int_eq(parse_text(line, &ev, &err), 0);
    ck_assert_int_eq(json_array_size(ev.warnings), FEED_EVENT_MAX_UNKNOWN_WARNINGS + 1);
    json_t *last = json_array_get(ev.warnings, FEED_EVENT_MAX_UNKNOWN_WARNINGS);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(last, "message")), "85 more"));
    ck_assert_int_eq(json_object_size(ev.doc), 6 + 101);
    feed_event_clear(&ev);

    /* a long key alone is shown cut, still valid UTF-8 */
    n = snprintf(line, sizeof line,
                 "{\"v\":1,\"event_id\":\"e\",\"type\":\"incident.updated\",\"incident_id\":\"I\",\"seq\":1,"
                 "\"at\":\"2026-04-02T22:00:00Z\",\"k");
    for (int i = 0; i < 300; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, "\xc3\xa9");
    snprintf(line + n, sizeof line - (size_t)n, "\":1}");
    ck_assert_int_eq(parse_text(line, &ev, &err), 0);
    ck_assert_int_eq(json_array_size(ev.warnings), 1);
    const char *f = json_string_value(json_object_get(json_array_get(ev.warnings, 0), "field"));
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_lt(strlen(f), 200);
    feed_event_clear(&ev);
}
END_TEST

/* ---- messages stay valid UTF-8 when cut ---- */

START_TEST(error_set_cuts_on_character_boundary)
{
    struct feed_event_error err = {0};
    char big[2000];
    size_t at = 0;
    while (at + 2 < sizeof big) {
        big[at++] = (char)0xC3;
        big[at++] = (char)0xA9;
    }
    big[at] = '\0';
    feed_event_error_set(&err, "bad_field", big, "%s", big);
    ck_assert_str_eq(err.code, "bad_field");
    json_t *m = json_string(err.message), *f = json_string(err.field);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(strlen(err.field), 254); /* 255 would split a character */
    ck_assert_uint_eq(strlen(err.message), 510);
    json_decref(m);
    json_decref(f);
    feed_event_error_set(&err, "bad_json", NULL, "plain %d", 5);
    ck_assert_str_eq(err.field, "");
    ck_assert_str_eq(err.message, "plain 5");
    feed_event_error_clear(&err);
}
END_TEST

/* ---- SQL-looking and other unusual but valid content ---- */

START_TEST(sql_looking_strings_accepted)
{
    struct feed_event ev;
    struct feed_event_error err;
    const char *line = "{\"v\":1,\"event_id\":\"e'; DROP TABLE raw_events; --\",\"type\":\"incident.opened\","
                       "\"incident_id\":\"I' OR '1'='1\",\"seq\":1,\"at\":\"2026-04-02T22:00:00Z\","
                       "\"category\":\"crime\",\"narrative\":\"Robert'); DELETE FROM audit;-- \\\\ $$ %s %n\","
                       "\"persons\":[{\"id\":\"p\\\"1\",\"role\":\"victim\",\"name\":\"O'Brien\"}]}";
    ck_assert_int_eq(parse_text(line, &ev, &err), 0);
    ck_assert_str_eq(ev.event_id, "e'; DROP TABLE raw_events; --");
    ck_assert_str_eq(ev.incident_id, "I' OR '1'='1");
    feed_event_clear(&ev);
}
END_TEST

/* ---- the corpus of hostile lines ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            buf = realloc(buf, cap *= 2);
            ck_assert_ptr_nonnull(buf);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

START_TEST(corpus)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    ck_assert_msg(root != NULL, "FCRD_SOURCE_ROOT is not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/corpus/expected.tsv", root);
    FILE *tsv = fopen(path, "r");
    ck_assert_msg(tsv != NULL, "cannot open %s", path);
    char row[1024];
    int checked = 0, lineno = 0;
    while (fgets(row, sizeof row, tsv)) {
        lineno++;
        row[strcspn(row, "\r\n")] = '\0';
        if (row[0] == '\0' || row[0] == '#' || strncmp(row, "file\t", 5) == 0)
            continue;
        char *cols[4] = {"", "", "", ""};
        char *p = row;
        for (int i = 0; i < 4 && p; i++) {
            cols[i] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        snprintf(path, sizeof path, "%s/tests/corpus/%s", root, cols[0]);
        size_t len;
        char *line = read_file(path, &len);
        ck_assert_msg(line != NULL, "expected.tsv:%d: cannot read %s", lineno, path);
        /* the file holds the line as sent; the feed strips the newline (and a CR before it) */
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        struct feed_event ev;
        struct feed_event_error err;
        int rc = feed_event_parse(line, len, NULL, &ev, &err);
        if (strcmp(cols[1], "accepted") == 0) {
            ck_assert_msg(rc == 0, "%s: rejected (%s %s: %s)", cols[0], err.code, err.field, err.message);
        } else {
            ck_assert_msg(strcmp(cols[1], "rejected") == 0, "expected.tsv:%d: bad status %s", lineno, cols[1]);
            ck_assert_msg(rc == -1, "%s: accepted", cols[0]);
            ck_assert_msg(strcmp(err.code, cols[2]) == 0, "%s: code %s, want %s (%s)", cols[0], err.code, cols[2],
                          err.message);
            ck_assert_msg(strcmp(err.field, cols[3]) == 0, "%s: field \"%s\", want \"%s\"", cols[0], err.field,
                          cols[3]);
            json_t *m = json_string(err.message);
            ck_assert_msg(m != NULL, "%s: message is not valid UTF-8", cols[0]);
            json_decref(m);
        }
        feed_event_clear(&ev);
        feed_event_error_clear(&err);
        free(line);
        checked++;
    }
    fclose(tsv);
    ck_assert_int_ge(checked, 50);
}
END_TEST

/* ---- the worked cases of the shared scenarios, when that folder is present ---- */

START_TEST(scenario_events_accepted)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    if (!root)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/../shared/scenarios/cases.json", root);
    json_t *cases = json_load_file(path, 0, NULL);
    if (!cases)
        return; /* only the source tree: nothing to check */
    size_t i, j, n = 0;
    json_t *cs, *e;
    json_array_foreach(cases, i, cs) {
        json_array_foreach(json_object_get(cs, "events"), j, e) {
            char *text = json_dumps(e, JSON_COMPACT);
            struct feed_event ev;
            struct feed_event_error err;
            int rc = parse_text(text, &ev, &err);
            ck_assert_msg(rc == 0, "%s event %zu rejected: %s %s", json_string_value(json_object_get(cs, "id")),
                          j + 1, err.code, err.message);
            ck_assert_msg(json_array_size(ev.warnings) == 0, "%s event %zu has warnings",
                          json_string_value(json_object_get(cs, "id")), j + 1);
            feed_event_clear(&ev);
            free(text);
            n++;
        }
    }
    json_decref(cases);
    ck_assert_int_gt(n, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("fields");
    tcase_add_loop_test(tc, field_case, 0, (int)(sizeof field_cases / sizeof field_cases[0]));
    tcase_add_test(tc, first_error_whatever_the_key_order);
    tcase_add_test(tc, array_paths_count_past_one_digit);
    suite_add_tcase(s, tc);

    tc = tcase_create("core");
    tcase_add_test(tc, base_event_parses);
    tcase_add_test(tc, minimal_update_and_close);
    tcase_add_test(tc, type_names);
    tcase_add_test(tc, limits_default_values);
    tcase_add_test(tc, custom_limits_apply);
    tcase_add_test(tc, tokens_counted_outside_strings);
    tcase_add_test(tc, too_many_tokens_is_refused_unparsed);
    tcase_add_test(tc, unknown_fields_bounded_in_total);
    tcase_add_test(tc, cost_bounds_what_a_line_holds);
    tcase_add_test(tc, identity_echoed_on_rejection);
    tcase_add_test(tc, version_forms);
    tcase_add_test(tc, canon_equal_for_reordered_keys);
    tcase_add_test(tc, null_handling);
    tcase_add_test(tc, unknown_fields_warn);
    tcase_add_test(tc, unknown_fields_bounded);
    tcase_add_test(tc, error_set_cuts_on_character_boundary);
    tcase_add_test(tc, sql_looking_strings_accepted);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_test(tc, duplicate_keys);
    tcase_add_test(tc, invalid_utf8);
    tcase_add_test(tc, nul_bytes);
    tcase_add_test(tc, control_characters);
    tcase_add_test(tc, deep_nesting);
    tcase_add_test(tc, not_an_object);
    tcase_add_test(tc, huge_numbers);
    tcase_add_test(tc, corpus);
    tcase_add_test(tc, scenario_events_accepted);
    suite_add_tcase(s, tc);

    return check_run(s);
}
