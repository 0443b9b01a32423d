/* The spool. sl_spool_put_many: the records of one push (an object-store notification) are
 * stored by one job, at consecutive positions, with one callback; over the quota none is
 * stored. Fan-out (several mappings read one push source): a row marked done by one reader
 * stays, and that reader's read-back leaves it out, until every reader has marked it; a sweep
 * forgets the marks of readers that no longer read the source and releases the rows the current
 * readers all handled; the quota is given back once per row actually deleted. The store is
 * opened without a loop (synchronous): each write is committed at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sources/spool.h"

struct fixture {
    char dir[64];
    struct sl_store *st;
    struct sl_spool *sp;
    int done_calls, done_status;
    char seen[8][32];
    uint64_t seqs[8];
    size_t nseen;
    uint64_t seq[3]; /* the rows setup_rows puts */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sl-spool-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    struct sl_err err = {0};
    if (sl_store_open(NULL, f->dir, NULL, &f->st, &err) != 0)
        fail_msg("open: %s", err.msg);
    if (sl_spool_open(NULL, f->st, 400, &f->sp, &err) != 0)
        fail_msg("spool: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_spool_destroy(f->sp);
    sl_store_close(f->st);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void done_cb(int status, void *arg)
{
    struct fixture *f = arg;
    f->done_calls++;
    f->done_status = status;
}

static int row_cb(const struct sl_spool_row *row, void *arg)
{
    struct fixture *f = arg;
    assert_true(f->nseen < 8);
    snprintf(f->seen[f->nseen], sizeof(f->seen[0]), "%s|%s|%.*s", row->id, row->attrs,
             (int)row->body_len, (const char *)row->body);
    f->seqs[f->nseen++] = row->seq;
    return 0;
}

static void test_one_job_consecutive_positions(void **state)
{
    struct fixture *f = *state;
    const struct sl_spool_item items[3] = {
        {.source = "up",
         .id = "A",
         .received_ms = 1,
         .attrs = "{\"k\":1}",
         .body = "b1",
         .body_len = 2},
        {.source = "up", .id = "B", .received_ms = 1, .attrs = "{}", .body = "", .body_len = 0},
        {.source = "up",
         .id = "C",
         .received_ms = 1,
         .attrs = "{\"k\":3}",
         .body = "b3",
         .body_len = 2},
    };
    uint64_t first = 0, one = 0;
    struct sl_spool_item single = items[0];
    single.id = "Z";
    assert_int_equal(sl_spool_put(f->sp, &single, &one, NULL, NULL), 0);
    assert_int_equal(sl_spool_put_many(f->sp, items, 3, &first, done_cb, f), 0);
    assert_int_equal(f->done_calls, 1);
    assert_int_equal(f->done_status, 0);
    assert_int_equal(first, one + 1);
    assert_int_equal(sl_spool_scan(f->sp, "up", NULL, one, 10, row_cb, f), 3);
    assert_string_equal(f->seen[0], "A|{\"k\":1}|b1");
    assert_string_equal(f->seen[1], "B|{}|");
    assert_string_equal(f->seen[2], "C|{\"k\":3}|b3");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(f->seqs[i], first + i);
    assert_int_equal(sl_spool_depth(f->sp, "up"), 4);
}

static void test_over_quota_stores_none(void **state)
{
    struct fixture *f = *state;
    char big[150];
    memset(big, 'x', sizeof(big));
    struct sl_spool_item items[3];
    for (size_t i = 0; i < 3; i++)
        items[i] = (struct sl_spool_item){
            .source = "up", .id = "I", .attrs = "{}", .body = big, .body_len = sizeof(big)};
    uint64_t first = 0;
    /* Two fit in the quota (400 bytes), three do not: nothing of the three is stored. */
    assert_int_equal(sl_spool_put_many(f->sp, items, 3, &first, done_cb, f), SL_EFULL);
    assert_int_equal(f->done_calls, 0);
    assert_int_equal(sl_spool_depth(f->sp, "up"), 0);
    assert_int_equal(sl_spool_used_bytes(f->sp), 0);
    assert_int_equal(sl_spool_put_many(f->sp, items, 2, &first, done_cb, f), 0);
    assert_int_equal(sl_spool_depth(f->sp, "up"), 2);
}

/* Three rows of source "hook", charged 12 bytes each. */
static int setup_rows(void **state)
{
    setup(state);
    struct fixture *f = *state;
    for (size_t i = 0; i < 3; i++) {
        const struct sl_spool_item it = {
            .source = "hook", .id = "I", .attrs = "{}", .body = "0123456789", .body_len = 10};
        assert_int_equal(sl_spool_put(f->sp, &it, &f->seq[i], NULL, NULL), 0);
    }
    return 0;
}

static const size_t charge = 12; /* "{}" and ten bytes of body */

static int64_t marks(struct fixture *f)
{
    sqlite3_stmt *q = sl_store_stmt(sl_store_reader(f->st), "SELECT count(*) FROM spool_done");
    assert_non_null(q);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return n;
}

static void test_row_stays_until_every_reader_marked_it(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sl_spool_used_bytes(f->sp), 3 * charge);
    sl_spool_done(f->sp, f->seq[0], "a", 2, charge);
    sl_spool_done(f->sp, f->seq[0], "a", 2, charge); /* a redelivery to a: still one mark */
    assert_int_equal(sl_spool_depth(f->sp, "hook"), 3);
    assert_int_equal(sl_spool_pending(f->sp, "hook", "a"), 2);
    assert_int_equal(sl_spool_pending(f->sp, "hook", "b"), 3);
    assert_int_equal(sl_spool_used_bytes(f->sp), 3 * charge);
    /* a's read-back leaves out what a handled; b's reads everything. */
    assert_int_equal(sl_spool_scan(f->sp, "hook", "a", 0, 10, row_cb, f), 2);
    assert_int_equal(f->seqs[0], f->seq[1]);
    assert_int_equal(f->seqs[1], f->seq[2]);
    f->nseen = 0;
    assert_int_equal(sl_spool_scan(f->sp, "hook", "b", 0, 10, row_cb, f), 3);
    sl_spool_done(f->sp, f->seq[0], "b", 2, charge);
    assert_int_equal(sl_spool_depth(f->sp, "hook"), 2);
    assert_int_equal(marks(f), 0); /* the row's marks went with it */
    assert_int_equal(sl_spool_used_bytes(f->sp), 2 * charge);
}

static void test_no_mark_for_a_row_already_gone(void **state)
{
    struct fixture *f = *state;
    sl_spool_delete(f->sp, f->seq[1], charge);
    sl_spool_done(f->sp, f->seq[1], "a", 2, charge);
    sl_spool_delete(f->sp, f->seq[1], charge); /* the quota is given back once */
    assert_int_equal(marks(f), 0);
    assert_int_equal(sl_spool_depth(f->sp, "hook"), 2);
    assert_int_equal(sl_spool_used_bytes(f->sp), 2 * charge);
}

static void test_sweep_forgets_gone_readers_and_releases_handled_rows(void **state)
{
    struct fixture *f = *state;
    sl_spool_done(f->sp, f->seq[0], "a", 3, charge);
    sl_spool_done(f->sp, f->seq[0], "gone", 3, charge);
    sl_spool_done(f->sp, f->seq[1], "gone", 3, charge);
    sl_spool_done(f->sp, f->seq[2], "b", 3, charge);
    assert_int_equal(marks(f), 4);
    /* Readers a and b now: gone's marks are forgotten; no row has both a's and b's. */
    const char *const ab[] = {"a", "b"};
    sl_spool_sweep(f->sp, "hook", ab, 2);
    assert_int_equal(marks(f), 2);
    assert_int_equal(sl_spool_depth(f->sp, "hook"), 3);
    /* Reader a alone (b removed): the row a handled is released, the others stay for a. */
    const char *const a[] = {"a"};
    sl_spool_sweep(f->sp, "hook", a, 1);
    assert_int_equal(sl_spool_depth(f->sp, "hook"), 2);
    assert_int_equal(marks(f), 0);
    assert_int_equal(sl_spool_used_bytes(f->sp), 2 * charge);
    assert_int_equal(sl_spool_scan(f->sp, "hook", "a", 0, 10, row_cb, f), 2);
    assert_int_equal(f->seqs[0], f->seq[1]);
    assert_int_equal(f->seqs[1], f->seq[2]);
}

static void test_sweep_leaves_other_sources_alone(void **state)
{
    struct fixture *f = *state;
    const struct sl_spool_item it = {.source = "other", .id = "O", .attrs = "{}", .body = "x"};
    uint64_t seq;
    assert_int_equal(sl_spool_put(f->sp, &it, &seq, NULL, NULL), 0);
    sl_spool_done(f->sp, seq, "x", 2, 3);
    const char *const a[] = {"a"};
    sl_spool_sweep(f->sp, "hook", a, 1);
    assert_int_equal(marks(f), 1);
    assert_int_equal(sl_spool_depth(f->sp, "other"), 1);
    assert_int_equal(sl_spool_depth(f->sp, "hook"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_job_consecutive_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_over_quota_stores_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_stays_until_every_reader_marked_it, setup_rows,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_mark_for_a_row_already_gone, setup_rows, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_forgets_gone_readers_and_releases_handled_rows,
                                        setup_rows, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_leaves_other_sources_alone, setup_rows,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
