/* test_jsonalloc.c: jansson's allocator reuses freed small blocks by size, keeps no more than its
 * bound, never keeps large blocks, and serves jansson itself. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "check_run.h"
#include "jsonalloc.h"

START_TEST(freed_block_is_reused_for_its_size)
{
    char *p = jsonalloc_malloc(40);
    ck_assert_ptr_nonnull(p);
    memset(p, 0xAB, 40);
    jsonalloc_free(p);
    ck_assert_uint_eq(jsonalloc_cached_bytes(), 48);
    char *q = jsonalloc_malloc(33); /* same class: 33..48 bytes */
    ck_assert_ptr_eq(q, p);
    ck_assert_uint_eq(jsonalloc_cached_bytes(), 0);
    char *r = jsonalloc_malloc(49); /* next class: a block of its own */
    ck_assert_ptr_ne(r, p);
    jsonalloc_free(q);
    jsonalloc_free(r);
    ck_assert_uint_eq(jsonalloc_cached_bytes(), 48 + 64);
    jsonalloc_release();
    ck_assert_uint_eq(jsonalloc_cached_bytes(), 0);
}
END_TEST

START_TEST(blocks_are_aligned_and_usable)
{
    void *blocks[64];
    for (size_t i = 0; i < 64; i++) {
        size_t n = i * 13; /* 0 .. 819: small and large */
        blocks[i] = jsonalloc_malloc(n);
        ck_assert_ptr_nonnull(blocks[i]);
        ck_assert_uint_eq((uintptr_t)blocks[i] % _Alignof(max_align_t), 0);
        memset(blocks[i], (int)i, n);
    }
    for (size_t i = 0; i < 64; i++) {
        unsigned char *b = blocks[i];
        for (size_t k = 0; k < i * 13; k++)
            ck_assert_uint_eq(b[k], i);
        jsonalloc_free(b);
    }
    jsonalloc_free(NULL);
    jsonalloc_release();
}
END_TEST

START_TEST(large_blocks_are_not_kept)
{
    void *p = jsonalloc_malloc(513);
    ck_assert_ptr_nonnull(p);
    jsonalloc_free(p);
    ck_assert_uint_eq(jsonalloc_cached_bytes(), 0);
    p = jsonalloc_malloc(512);
    jsonalloc_free(p);
    ck_assert_uint_eq(jsonalloc_cached_bytes(), 512);
    jsonalloc_release();
}
END_TEST

START_TEST(cache_is_bounded)
{
    size_t n = JSONALLOC_CACHE_BYTES / 256 + 100;
    void **blocks = calloc(n, sizeof(*blocks));
    ck_assert_ptr_nonnull(blocks);
    for (size_t i = 0; i < n; i++)
        blocks[i] = jsonalloc_malloc(256);
    for (size_t i = 0; i < n; i++)
        jsonalloc_free(blocks[i]);
    ck_assert_uint_eq(jsonalloc_cached_bytes(), JSONALLOC_CACHE_BYTES);
    free(blocks);
    jsonalloc_release();
    ck_assert_uint_eq(jsonalloc_cached_bytes(), 0);
}
END_TEST

START_TEST(serves_jansson)
{
    jsonalloc_install();
    json_t *v = json_pack("{s:s, s:[i, i, {s:n}], s:s}", "a", "text", "b", 1, 2, "c", "d",
                          "a rather longer string value than any small block holds, so it takes a large block "
                          "of its own from malloc and goes straight back there when freed, whatever is cached");
    ck_assert_ptr_nonnull(v);
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(s, "\"b\":[1,2,{\"c\":null}]"));
    json_t *back = json_loads(s, 0, NULL);
    ck_assert(json_equal(v, back));
    jsonalloc_free(s); /* jansson's text comes from its allocator */
    json_decref(back);
    json_decref(v);
    jsonalloc_release();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonalloc");
    TCase *tc = tcase_create("jsonalloc");
    tcase_add_test(tc, freed_block_is_reused_for_its_size);
    tcase_add_test(tc, blocks_are_aligned_and_usable);
    tcase_add_test(tc, large_blocks_are_not_kept);
    tcase_add_test(tc, cache_is_bounded);
    tcase_add_test(tc, serves_jansson);
    suite_add_tcase(s, tc);
    return check_run(s);
}
