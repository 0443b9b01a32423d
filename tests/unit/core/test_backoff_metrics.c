/* core: backoff with full jitter, the metrics registry's exposition format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "core/id.h"
#include "core/metrics.h"

static void test_backoff_ceiling_grows_and_caps(void **state)
{
    struct sl_backoff p = {.min_ms = 100, .max_ms = 1000, .multiplier = 2.0};
    assert_int_equal(sl_backoff_ceiling(&p, 1), 100);
    assert_int_equal(sl_backoff_ceiling(&p, 2), 200);
    assert_int_equal(sl_backoff_ceiling(&p, 3), 400);
    assert_int_equal(sl_backoff_ceiling(&p, 4), 800);
    assert_int_equal(sl_backoff_ceiling(&p, 5), 1000);
    assert_int_equal(sl_backoff_ceiling(&p, 60), 1000);
}

static void test_backoff_full_jitter_stays_in_range_and_spreads(void **state)
{
    struct sl_backoff p = {.min_ms = 10, .max_ms = 10000, .multiplier = 2.0};
    uint64_t rng = 12345;
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t d = sl_backoff_delay(&p, 6, &rng); /* ceiling 320 */
        assert_true(d >= 10 && d <= 320);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* Full jitter uses the whole range, not just the ceiling. */
    assert_true(lo < 50);
    assert_true(hi > 280);
    struct sl_backoff flat = {.min_ms = 50, .max_ms = 50, .multiplier = 2.0};
    assert_int_equal(sl_backoff_delay(&flat, 3, &rng), 50);
}

static void test_metrics_render(void **state)
{
    struct sl_metrics *r = sl_metrics_create();
    struct sl_buf l, out;
    sl_buf_init(&l);
    sl_buf_init(&out);
    sl_metrics_label(&l, "mapping", "we\"ird\\name");
    struct sl_metric *c = sl_metrics_counter(r, "x_total", "Things.", l.data);
    assert_ptr_equal(c, sl_metrics_counter(r, "x_total", "Things.", l.data));
    sl_metric_inc(c);
    sl_metric_add(c, 2);
    static const double bounds[] = {0.1, 1};
    struct sl_metric *h = sl_metrics_histogram(r, "d_seconds", "Durations.", NULL, bounds, 2);
    sl_metric_observe(h, 0.05);
    sl_metric_observe(h, 0.5);
    sl_metric_observe(h, 5);
    sl_metrics_render(r, &out);
    assert_non_null(strstr(out.data, "# TYPE x_total counter\n"));
    assert_non_null(strstr(out.data, "x_total{mapping=\"we\\\"ird\\\\name\"} 3\n"));
    assert_non_null(strstr(out.data, "d_seconds_bucket{le=\"0.1\"} 1\n"));
    assert_non_null(strstr(out.data, "d_seconds_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr(out.data, "d_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out.data, "d_seconds_count 3\n"));
    assert_non_null(strstr(out.data, "d_seconds_sum 5.55"));
    sl_buf_release(&l);
    sl_buf_release(&out);
    sl_metrics_destroy(r);
}

static double read_arg_cb(void *arg)
{
    return *(double *)arg;
}

/* A gauge whose value is not known is left out (never rendered as -1), and a family with no
 * series left has no HELP/TYPE lines either. */
static void test_metrics_unknown_gauge_left_out(void **state)
{
    struct sl_metrics *r = sl_metrics_create();
    struct sl_buf out;
    sl_buf_init(&out);
    double known = 7, unknown = SL_METRIC_UNKNOWN, alone = SL_METRIC_UNKNOWN;
    sl_metrics_gauge_fn(r, "g", "G.", "mapping=\"a\"", read_arg_cb, &known);
    sl_metrics_gauge_fn(r, "g", "G.", "mapping=\"b\"", read_arg_cb, &unknown);
    sl_metrics_gauge_fn(r, "lonely", "L.", NULL, read_arg_cb, &alone);
    sl_metrics_render(r, &out);
    assert_non_null(strstr(out.data, "g{mapping=\"a\"} 7\n"));
    assert_null(strstr(out.data, "mapping=\"b\""));
    assert_null(strstr(out.data, "lonely"));
    assert_null(strstr(out.data, "nan"));
    assert_null(strstr(out.data, " -1"));
    sl_buf_reset(&out);
    alone = 0;
    sl_metrics_render(r, &out);
    assert_non_null(strstr(out.data, "# TYPE lonely gauge\nlonely 0\n"));
    /* A counter read at render time is typed a counter. */
    double commits = 12;
    sl_metrics_counter_fn(r, "commits_total", "C.", NULL, read_arg_cb, &commits);
    sl_buf_reset(&out);
    sl_metrics_render(r, &out);
    assert_non_null(strstr(out.data, "# TYPE commits_total counter\ncommits_total 12\n"));
    sl_buf_release(&out);
    sl_metrics_destroy(r);
}

/* A mapping re-created under the same name (a reload) gets the same series, not a duplicate;
 * a removed one's series go, and a gauge read through a freed object is forgotten. */
static void test_metrics_reuse_remove_forget(void **state)
{
    struct sl_metrics *r = sl_metrics_create();
    struct sl_buf out;
    sl_buf_init(&out);
    double v1 = 1, v2 = 2, part = 5;
    struct sl_metric *c = sl_metrics_counter(r, "rec_total", "R.", "mapping=\"a\"");
    sl_metric_add(c, 3);
    sl_metrics_gauge_fn(r, "age", "A.", "mapping=\"a\"", read_arg_cb, &v1);
    sl_metrics_counter(r, "rec_total", "R.", "mapping=\"ab\"");
    sl_metrics_counter(r, "inv_total", "I.", "mapping=\"a\",outcome=\"ok\"");
    sl_metrics_gauge_fn(r, "lag", "L.", "source=\"k\",partition=\"0\"", read_arg_cb, &part);
    /* Again, as a re-created mapping does: the same series, now read through v2. */
    assert_ptr_equal(c, sl_metrics_counter(r, "rec_total", "R.", "mapping=\"a\""));
    sl_metrics_gauge_fn(r, "age", "A.", "mapping=\"a\"", read_arg_cb, &v2);
    sl_metrics_render(r, &out);
    const char *first = strstr(out.data, "rec_total{mapping=\"a\"} 3\n");
    assert_non_null(first);
    assert_null(strstr(first + 1, "rec_total{mapping=\"a\"}"));
    assert_non_null(strstr(out.data, "age{mapping=\"a\"} 2\n"));
    assert_null(strstr(out.data, "age{mapping=\"a\"} 1\n"));

    sl_metrics_forget(r, &part);
    sl_metrics_remove(r, "mapping=\"a\"");
    sl_buf_reset(&out);
    sl_metrics_render(r, &out);
    assert_null(strstr(out.data, "mapping=\"a\""));
    assert_null(strstr(out.data, "lag"));
    assert_null(strstr(out.data, "# TYPE age"));
    assert_non_null(strstr(out.data, "rec_total{mapping=\"ab\"} 0\n"));
    /* Added back: starts again. */
    c = sl_metrics_counter(r, "rec_total", "R.", "mapping=\"a\"");
    assert_true(sl_metric_value(c) == 0);
    sl_buf_release(&out);
    sl_metrics_destroy(r);
}

static void test_ids_are_uuid4_and_distinct(void **state)
{
    char a[SL_ID_LEN + 1], b[SL_ID_LEN + 1];
    sl_id_new(a);
    sl_id_new(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
}

static int cmp_id(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* Many ids (the random bytes come in blocks: this crosses several refills): each is a UUID 4
 * in its canonical text form, and no two are equal. */
static void test_many_ids_are_well_formed_and_distinct(void **state)
{
    enum { N = 1000 };
    static char ids[N][SL_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        sl_id_new(ids[i]);
        assert_int_equal(strlen(ids[i]), SL_ID_LEN);
        for (int k = 0; k < SL_ID_LEN; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(ids[i][k], '-');
            else
                assert_non_null(strchr("0123456789abcdef", ids[i][k]));
        }
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
    }
    qsort(ids, N, sizeof(ids[0]), cmp_id);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_ceiling_grows_and_caps),
        cmocka_unit_test(test_backoff_full_jitter_stays_in_range_and_spreads),
        cmocka_unit_test(test_metrics_render),
        cmocka_unit_test(test_metrics_unknown_gauge_left_out),
        cmocka_unit_test(test_metrics_reuse_remove_forget),
        cmocka_unit_test(test_ids_are_uuid4_and_distinct),
        cmocka_unit_test(test_many_ids_are_well_formed_and_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
