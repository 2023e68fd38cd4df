/* test_store_states.c: the store lanes' and the database connections' transition tables: every
 * transition the write path makes is accepted, every other refused with the state left as it was. */
#include <check.h>
#include <stdbool.h>

#include "check_run.h"
#include "store/pgconn.h"
#include "store/store_lane.h"

struct pair {
    int from, to;
};

/* The lane's transitions, as the write path makes them (store_lane.c). */
static const struct pair lane_moves[] = {
    {STORE_LANE_IDLE, STORE_LANE_READING},          /* a batch starts with its read round trip */
    {STORE_LANE_IDLE, STORE_LANE_WRITING},          /* a direct batch: BEGIN with its writes */
    {STORE_LANE_READING, STORE_LANE_WRITING},       /* decided: the writes go */
    {STORE_LANE_READING, STORE_LANE_ENDING},        /* nothing accepted: ROLLBACK answered as COMMIT */
    {STORE_LANE_READING, STORE_LANE_ROLLING_BACK},  /* a statement failed */
    {STORE_LANE_READING, STORE_LANE_REDOING},       /* short of serials: decided again with more */
    {STORE_LANE_READING, STORE_LANE_IDLE},          /* connection lost: answered retry */
    {STORE_LANE_WRITING, STORE_LANE_COMMITTING},
    {STORE_LANE_WRITING, STORE_LANE_ROLLING_BACK},
    {STORE_LANE_WRITING, STORE_LANE_REDOING},       /* a direct batch refused */
    {STORE_LANE_WRITING, STORE_LANE_IDLE},
    {STORE_LANE_ENDING, STORE_LANE_IDLE},
    {STORE_LANE_ENDING, STORE_LANE_ROLLING_BACK},
    {STORE_LANE_COMMITTING, STORE_LANE_IDLE},       /* delivered, or in doubt and put back */
    {STORE_LANE_COMMITTING, STORE_LANE_ROLLING_BACK},
    {STORE_LANE_COMMITTING, STORE_LANE_REDOING},    /* a direct batch's COMMIT refused */
    {STORE_LANE_ROLLING_BACK, STORE_LANE_IDLE},
    {STORE_LANE_REDOING, STORE_LANE_IDLE},
};

/* The connection's transitions (pgconn.c). */
static const struct pair conn_moves[] = {
    {PGCONN_DOWN, PGCONN_CONNECTING},  {PGCONN_CONNECTING, PGCONN_CHECKING}, {PGCONN_CONNECTING, PGCONN_DOWN},
    {PGCONN_CHECKING, PGCONN_READY},   {PGCONN_CHECKING, PGCONN_DOWN},       {PGCONN_READY, PGCONN_BUSY},
    {PGCONN_READY, PGCONN_DOWN},       {PGCONN_BUSY, PGCONN_READY},          {PGCONN_BUSY, PGCONN_DOWN},
};

static bool listed(const struct pair *moves, size_t n, int from, int to)
{
    for (size_t i = 0; i < n; i++)
        if (moves[i].from == from && moves[i].to == to)
            return true;
    return false;
}

START_TEST(lane_every_pair)
{
    size_t n = sizeof(lane_moves) / sizeof(lane_moves[0]), accepted = 0;
    for (int from = 0; from < STORE_LANE_NSTATES; from++) {
        for (int to = 0; to < STORE_LANE_NSTATES; to++) {
            enum store_lane_state s = (enum store_lane_state)from;
            int rc = store_lane_state_set(&s, (enum store_lane_state)to);
            if (listed(lane_moves, n, from, to)) {
                ck_assert_msg(rc == 0 && (int)s == to, "lane %s -> %s refused",
                              store_lane_state_name((enum store_lane_state)from),
                              store_lane_state_name((enum store_lane_state)to));
                accepted++;
            } else {
                ck_assert_msg(rc == -1 && (int)s == from, "lane %s -> %s accepted",
                              store_lane_state_name((enum store_lane_state)from),
                              store_lane_state_name((enum store_lane_state)to));
            }
        }
    }
    ck_assert_uint_eq(accepted, n);
}
END_TEST

START_TEST(lane_refusals)
{
    /* staying put is not a transition; a COMMIT is not sent before the writes */
    enum store_lane_state s = STORE_LANE_IDLE;
    ck_assert_int_eq(store_lane_state_set(&s, STORE_LANE_IDLE), -1);
    ck_assert_int_eq(s, STORE_LANE_IDLE);
    ck_assert_int_eq(store_lane_state_set(&s, STORE_LANE_COMMITTING), -1);
    ck_assert_int_eq(s, STORE_LANE_IDLE);
    s = STORE_LANE_ROLLING_BACK;
    ck_assert_int_eq(store_lane_state_set(&s, STORE_LANE_READING), -1);
    ck_assert_int_eq(s, STORE_LANE_ROLLING_BACK);
    /* out of range, either side */
    ck_assert_int_eq(store_lane_state_set(&s, (enum store_lane_state)STORE_LANE_NSTATES), -1);
    ck_assert_int_eq(s, STORE_LANE_ROLLING_BACK);
    s = (enum store_lane_state)99;
    ck_assert_int_eq(store_lane_state_set(&s, STORE_LANE_IDLE), -1);
    ck_assert_int_eq(s, 99);
    ck_assert_str_eq(store_lane_state_name((enum store_lane_state)99), "?");
    ck_assert_str_eq(store_lane_state_name(STORE_LANE_COMMITTING), "committing");
}
END_TEST

START_TEST(conn_every_pair)
{
    size_t n = sizeof(conn_moves) / sizeof(conn_moves[0]), accepted = 0;
    for (int from = 0; from < PGCONN_NSTATES; from++) {
        for (int to = 0; to < PGCONN_NSTATES; to++) {
            enum pgconn_state s = (enum pgconn_state)from;
            int rc = pgconn_state_set(&s, (enum pgconn_state)to);
            if (listed(conn_moves, n, from, to)) {
                ck_assert_msg(rc == 0 && (int)s == to, "connection %s -> %s refused",
                              pgconn_state_name((enum pgconn_state)from), pgconn_state_name((enum pgconn_state)to));
                accepted++;
            } else {
                ck_assert_msg(rc == -1 && (int)s == from, "connection %s -> %s accepted",
                              pgconn_state_name((enum pgconn_state)from), pgconn_state_name((enum pgconn_state)to));
            }
        }
    }
    ck_assert_uint_eq(accepted, n);
}
END_TEST

START_TEST(conn_refusals)
{
    /* a unit is not sent before the session check has passed; a lost connection is not lost again */
    enum pgconn_state s = PGCONN_CHECKING;
    ck_assert_int_eq(pgconn_state_set(&s, PGCONN_BUSY), -1);
    ck_assert_int_eq(s, PGCONN_CHECKING);
    s = PGCONN_DOWN;
    ck_assert_int_eq(pgconn_state_set(&s, PGCONN_DOWN), -1);
    ck_assert_int_eq(s, PGCONN_DOWN);
    ck_assert_int_eq(pgconn_state_set(&s, PGCONN_READY), -1);
    ck_assert_int_eq(s, PGCONN_DOWN);
    ck_assert_int_eq(pgconn_state_set(&s, (enum pgconn_state)-1), -1);
    ck_assert_int_eq(s, PGCONN_DOWN);
    ck_assert_str_eq(pgconn_state_name((enum pgconn_state)42), "?");
    ck_assert_str_eq(pgconn_state_name(PGCONN_BUSY), "busy");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_states");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, lane_every_pair);
    tcase_add_test(tc, lane_refusals);
    tcase_add_test(tc, conn_every_pair);
    tcase_add_test(tc, conn_refusals);
    suite_add_tcase(s, tc);
    return check_run(s);
}
