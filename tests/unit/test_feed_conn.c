/* test_feed_conn.c: the feed connection's state table: every allowed transition is taken, every
 * other one refused with the state left as it was. */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "feed/feed_conn.h"
#include "check_run.h"

struct edge {
    enum feed_conn_state from, to;
};

/* The transitions feed.c relies on, written out independently of the table in feed_conn.c. */
static const struct edge allowed[] = {
    {FEED_CONN_HANDSHAKE, FEED_CONN_READING}, {FEED_CONN_HANDSHAKE, FEED_CONN_CLOSED},
    {FEED_CONN_READING, FEED_CONN_PAUSED},    {FEED_CONN_READING, FEED_CONN_CLOSING},
    {FEED_CONN_READING, FEED_CONN_CLOSED},    {FEED_CONN_PAUSED, FEED_CONN_READING},
    {FEED_CONN_PAUSED, FEED_CONN_CLOSING},    {FEED_CONN_PAUSED, FEED_CONN_CLOSED},
    {FEED_CONN_CLOSING, FEED_CONN_CLOSED},
};

#define N_ALLOWED (sizeof allowed / sizeof allowed[0])

static bool listed(enum feed_conn_state from, enum feed_conn_state to)
{
    for (size_t i = 0; i < N_ALLOWED; i++)
        if (allowed[i].from == from && allowed[i].to == to)
            return true;
    return false;
}

START_TEST(allowed_transitions_taken)
{
    for (size_t i = 0; i < N_ALLOWED; i++) {
        enum feed_conn_state s = allowed[i].from;
        ck_assert_msg(feed_conn_state_allowed(allowed[i].from, allowed[i].to), "%s -> %s",
                      feed_conn_state_name(allowed[i].from), feed_conn_state_name(allowed[i].to));
        ck_assert_int_eq(feed_conn_set_state(&s, allowed[i].to, 1), 0);
        ck_assert_int_eq(s, allowed[i].to);
    }
}
END_TEST

START_TEST(other_transitions_refused)
{
    int refused = 0;
    for (int from = 0; from < FEED_CONN_NSTATES; from++)
        for (int to = 0; to < FEED_CONN_NSTATES; to++) {
            if (listed((enum feed_conn_state)from, (enum feed_conn_state)to))
                continue;
            enum feed_conn_state s = (enum feed_conn_state)from;
            ck_assert_msg(!feed_conn_state_allowed(s, (enum feed_conn_state)to), "%s -> %s",
                          feed_conn_state_name(s), feed_conn_state_name((enum feed_conn_state)to));
            ck_assert_int_eq(feed_conn_set_state(&s, (enum feed_conn_state)to, 2), -1);
            ck_assert_int_eq(s, from);
            refused++;
        }
    /* every state to itself, plus the impossible moves the table is there to catch */
    ck_assert_int_eq(refused, FEED_CONN_NSTATES * FEED_CONN_NSTATES - (int)N_ALLOWED);
}
END_TEST

START_TEST(closed_is_final)
{
    for (int to = 0; to < FEED_CONN_NSTATES; to++) {
        enum feed_conn_state s = FEED_CONN_CLOSED;
        ck_assert_int_eq(feed_conn_set_state(&s, (enum feed_conn_state)to, 3), -1);
        ck_assert_int_eq(s, FEED_CONN_CLOSED);
    }
}
END_TEST

START_TEST(a_whole_life)
{
    /* a TLS connection that pauses twice, then the peer finishes and the last reply goes out */
    enum feed_conn_state s = FEED_CONN_HANDSHAKE;
    const enum feed_conn_state path[] = {FEED_CONN_READING, FEED_CONN_PAUSED, FEED_CONN_READING,
                                         FEED_CONN_PAUSED,  FEED_CONN_CLOSING, FEED_CONN_CLOSED};
    for (size_t i = 0; i < sizeof path / sizeof path[0]; i++) {
        ck_assert_int_eq(feed_conn_set_state(&s, path[i], 4), 0);
        ck_assert_int_eq(s, path[i]);
    }
    /* a closing connection reads no more: it can neither pause nor read again */
    s = FEED_CONN_CLOSING;
    ck_assert_int_eq(feed_conn_set_state(&s, FEED_CONN_PAUSED, 5), -1);
    ck_assert_int_eq(feed_conn_set_state(&s, FEED_CONN_READING, 5), -1);
    ck_assert_int_eq(s, FEED_CONN_CLOSING);
}
END_TEST

START_TEST(values_outside_the_enum)
{
    enum feed_conn_state bad = (enum feed_conn_state)FEED_CONN_NSTATES;
    enum feed_conn_state negative = (enum feed_conn_state)-1;
    ck_assert_str_eq(feed_conn_state_name(bad), "?");
    ck_assert_str_eq(feed_conn_state_name(negative), "?");
    ck_assert(!feed_conn_state_allowed(FEED_CONN_READING, bad));
    ck_assert(!feed_conn_state_allowed(bad, FEED_CONN_CLOSED));
    ck_assert(!feed_conn_state_allowed(negative, FEED_CONN_CLOSED));
    enum feed_conn_state s = FEED_CONN_READING;
    ck_assert_int_eq(feed_conn_set_state(&s, bad, 6), -1);
    ck_assert_int_eq(s, FEED_CONN_READING);
    s = bad;
    ck_assert_int_eq(feed_conn_set_state(&s, FEED_CONN_CLOSED, 6), -1);
    ck_assert_int_eq(s, bad);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(feed_conn_state_name(FEED_CONN_HANDSHAKE), "handshake");
    ck_assert_str_eq(feed_conn_state_name(FEED_CONN_READING), "reading");
    ck_assert_str_eq(feed_conn_state_name(FEED_CONN_PAUSED), "paused");
    ck_assert_str_eq(feed_conn_state_name(FEED_CONN_CLOSING), "closing");
    ck_assert_str_eq(feed_conn_state_name(FEED_CONN_CLOSED), "closed");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("feed_conn");
    TCase *tc = tcase_create("transitions");
    tcase_add_test(tc, allowed_transitions_taken);
    tcase_add_test(tc, other_transitions_refused);
    tcase_add_test(tc, closed_is_final);
    tcase_add_test(tc, a_whole_life);
    tcase_add_test(tc, values_outside_the_enum);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    return check_run(s);
}
