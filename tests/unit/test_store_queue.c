/* test_store_queue.c: what a lane's batch takes from the queue: incidents other batches hold stay
 * queued with everything behind them for those incidents, links hold both ways, free incidents'
 * items are taken in order, up to the batch's size and within the window looked at. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "store/store_queue.h"

/* A queue written as "A", "B>A" (B links to A), "C>A>D", ... one item per string. */
#define MAXQ 64
struct q {
    struct store_queue_item items[MAXQ];
    char text[MAXQ][64];
    const char *ids[MAXQ][8];
    size_t n;
};

static void q_make(struct q *q, const char *const *spec, size_t n)
{
    ck_assert_uint_le(n, MAXQ);
    q->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(q->text[i], sizeof(q->text[i]), "%s", spec[i]);
        size_t k = 0;
        for (char *tok = strtok(q->text[i], ">"); tok && k < 8; tok = strtok(NULL, ">"))
            q->ids[i][k++] = tok;
        q->items[i].incidents = q->ids[i];
        q->items[i].n = k;
    }
}

/* The indexes taken, as "0,2,5". */
static void take(const char *const *spec, size_t n, const char *const *busy, size_t nbusy, size_t max, char *out)
{
    struct q q;
    q_make(&q, spec, n);
    size_t taken[MAXQ], ntaken = 99;
    ck_assert_int_eq(store_queue_take(q.items, q.n, busy, nbusy, max, taken, &ntaken), 0);
    ck_assert_uint_le(ntaken, max);
    out[0] = '\0';
    for (size_t i = 0; i < ntaken; i++) {
        if (i > 0)
            ck_assert_uint_gt(taken[i], taken[i - 1]);
        sprintf(out + strlen(out), "%s%zu", i ? "," : "", taken[i]);
    }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(nothing_held_takes_the_head_in_order)
{
    const char *spec[] = {"A", "B", "A", "C>A", "D"};
    char got[256];
    take(spec, N(spec), NULL, 0, 10, got);
    ck_assert_str_eq(got, "0,1,2,3,4");
    take(spec, N(spec), NULL, 0, 3, got);
    ck_assert_str_eq(got, "0,1,2");
}
END_TEST

START_TEST(busy_incident_skipped_with_what_follows)
{
    /* A is held by another lane: every A item waits, the others go in order */
    const char *spec[] = {"A", "B", "A", "C", "A", "D"};
    const char *busy[] = {"A"};
    char got[256];
    take(spec, N(spec), busy, N(busy), 10, got);
    ck_assert_str_eq(got, "1,3,5");
}
END_TEST

START_TEST(held_item_holds_its_links_behind_it)
{
    /* B>A waits for A, and so B waits too: a later B item must not overtake it */
    const char *spec[] = {"B>A", "B", "C"};
    const char *busy[] = {"A"};
    char got[256];
    take(spec, N(spec), busy, N(busy), 10, got);
    ck_assert_str_eq(got, "2");
}
END_TEST

START_TEST(links_hold_both_ways)
{
    char got[256];
    /* an item linking to a held incident waits */
    const char *spec1[] = {"B>A", "C"};
    const char *busy1[] = {"A"};
    take(spec1, N(spec1), busy1, N(busy1), 10, got);
    ck_assert_str_eq(got, "1");
    /* an item whose incident another batch links to (the busy set holds it) waits */
    const char *spec2[] = {"A", "C"};
    const char *busy2[] = {"B", "A"}; /* another batch holds B>A */
    take(spec2, N(spec2), busy2, N(busy2), 10, got);
    ck_assert_str_eq(got, "1");
    /* and an item linked to by a held item waits behind it */
    const char *spec3[] = {"B>A", "A", "D"};
    const char *busy3[] = {"B"};
    take(spec3, N(spec3), busy3, N(busy3), 10, got);
    ck_assert_str_eq(got, "2");
}
END_TEST

START_TEST(hold_spreads_through_chains)
{
    /* A held -> B>A waits -> C>B waits -> C waits; E is free */
    const char *spec[] = {"B>A", "C>B", "C", "E", "F>E"};
    const char *busy[] = {"A"};
    char got[256];
    take(spec, N(spec), busy, N(busy), 10, got);
    ck_assert_str_eq(got, "3,4");
}
END_TEST

START_TEST(batch_max_respected)
{
    const char *spec[] = {"A", "B", "C", "D", "E", "F"};
    const char *busy[] = {"B"};
    char got[256];
    take(spec, N(spec), busy, N(busy), 2, got);
    ck_assert_str_eq(got, "0,2");
    take(spec, N(spec), busy, N(busy), 1, got);
    ck_assert_str_eq(got, "0");
    take(spec, N(spec), busy, N(busy), 0, got);
    ck_assert_str_eq(got, "");
    take(spec, N(spec), NULL, 0, 0, got);
    ck_assert_str_eq(got, "");
}
END_TEST

START_TEST(window_bounds_the_scan)
{
    /* max 1: at most store_queue_window(1) items are looked at, so a free item beyond a long run of
     * held ones waits for a later batch */
    ck_assert_uint_eq(store_queue_window(1), 4);
    ck_assert_uint_eq(store_queue_window(SIZE_MAX), SIZE_MAX);
    const char *spec[] = {"A", "A", "A", "A", "B"};
    const char *busy[] = {"A"};
    char got[256];
    take(spec, N(spec), busy, N(busy), 1, got);
    ck_assert_str_eq(got, "");
    take(spec, N(spec), busy, N(busy), 2, got);
    ck_assert_str_eq(got, "4");
    /* without anything held the head is taken, whatever the window */
    take(spec, N(spec), NULL, 0, 1, got);
    ck_assert_str_eq(got, "0");
}
END_TEST

START_TEST(edge_inputs)
{
    char got[256];
    size_t taken[4], ntaken = 7;
    /* an empty queue */
    const char *busy[] = {"A"};
    ck_assert_int_eq(store_queue_take(NULL, 0, busy, 1, 4, taken, &ntaken), 0);
    ck_assert_uint_eq(ntaken, 0);
    /* NULL ids, in the queue or among the busy ones, hold nothing */
    const char *ids0[] = {NULL, "B"}, *ids1[] = {NULL};
    struct store_queue_item items[3] = {{ids0, 2}, {ids1, 1}, {NULL, 0}};
    const char *busy_null[] = {NULL, "C"};
    ck_assert_int_eq(store_queue_take(items, 3, busy_null, 2, 4, taken, &ntaken), 0);
    ck_assert_uint_eq(ntaken, 3);
    /* repeats, in an item and in the busy set */
    const char *spec[] = {"A>A>A", "B>B", "C"};
    const char *busy2[] = {"B", "B", "B"};
    take(spec, N(spec), busy2, N(busy2), 4, got);
    ck_assert_str_eq(got, "0,2");
    /* the same id by different pointers is the same incident */
    char a1[] = "INC-1", a2[] = "INC-1";
    const char *ids2[] = {a1};
    struct store_queue_item one = {ids2, 1};
    const char *busy3[] = {a2};
    ck_assert_int_eq(store_queue_take(&one, 1, busy3, 1, 4, taken, &ntaken), 0);
    ck_assert_uint_eq(ntaken, 0);
    /* ids differing only in a prefix or by case are different incidents */
    const char *spec4[] = {"INC-10", "inc-1", "INC-1"};
    const char *busy4[] = {"INC-1"};
    take(spec4, N(spec4), busy4, N(busy4), 4, got);
    ck_assert_str_eq(got, "0,1");
}
END_TEST

START_TEST(many_ids)
{
    /* enough incidents for the set to be large: every odd item is held, every even one is free */
    static char names[400][16];
    static const char *busy[200];
    static const char *ids[400][1];
    static struct store_queue_item items[400];
    for (int i = 0; i < 400; i++) {
        snprintf(names[i], sizeof(names[i]), "I-%d", i);
        ids[i][0] = names[i];
        items[i].incidents = ids[i];
        items[i].n = 1;
        if (i % 2)
            busy[i / 2] = names[i];
    }
    size_t taken[100], ntaken;
    ck_assert_int_eq(store_queue_take(items, 400, busy, 200, 100, taken, &ntaken), 0);
    ck_assert_uint_eq(ntaken, 100);
    for (size_t i = 0; i < ntaken; i++)
        ck_assert_uint_eq(taken[i], 2 * i);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_queue");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, nothing_held_takes_the_head_in_order);
    tcase_add_test(tc, busy_incident_skipped_with_what_follows);
    tcase_add_test(tc, held_item_holds_its_links_behind_it);
    tcase_add_test(tc, links_hold_both_ways);
    tcase_add_test(tc, hold_spreads_through_chains);
    tcase_add_test(tc, batch_max_respected);
    tcase_add_test(tc, window_bounds_the_scan);
    tcase_add_test(tc, edge_inputs);
    tcase_add_test(tc, many_ids);
    suite_add_tcase(s, tc);
    return check_run(s);
}
