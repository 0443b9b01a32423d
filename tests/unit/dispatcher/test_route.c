/* The weighted qualifier chooser: a seeded generator, so the split is checked exactly the same
 * way on every run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>

#include "dispatcher/route.h"

/* Picks n times; counts per route into c. */
static void run(struct sl_router *r, size_t n, size_t *c)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = sl_router_pick(r);
        assert_true(k < r->n);
        c[k]++;
    }
}

/* |observed - n p| within 5 standard deviations of a binomial(n, p). */
static void assert_near(size_t observed, size_t n, double p)
{
    double mean = (double)n * p, sd = sqrt((double)n * p * (1 - p));
    if (fabs((double)observed - mean) > 5 * sd)
        fail_msg("%zu of %zu, expected %.0f +- %.0f", observed, n, mean, 5 * sd);
}

static void test_split_90_10_over_10000_batches(void **state)
{
    const double w[] = {0.9, 0.1};
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct sl_router r;
        assert_int_equal(sl_router_init(&r, w, 2, seed), 0);
        size_t c[2] = {0};
        run(&r, 10000, c);
        assert_int_equal(c[0] + c[1], 10000);
        assert_near(c[1], 10000, 0.1);
    }
}

static void test_three_ways_and_unnormalised_weights(void **state)
{
    const double w[] = {2, 1, 1}; /* 50%, 25%, 25% */
    struct sl_router r;
    assert_int_equal(sl_router_init(&r, w, 3, 42), 0);
    size_t c[3] = {0};
    run(&r, 10000, c);
    assert_near(c[0], 10000, 0.5);
    assert_near(c[1], 10000, 0.25);
    assert_near(c[2], 10000, 0.25);
}

static void test_small_weight_is_still_chosen(void **state)
{
    const double w[] = {0.999, 0.001};
    struct sl_router r;
    assert_int_equal(sl_router_init(&r, w, 2, 7), 0);
    size_t c[2] = {0};
    run(&r, 100000, c);
    assert_true(c[1] > 0);
    assert_near(c[1], 100000, 0.001);
}

static void test_seeds_give_different_sequences(void **state)
{
    const double w[] = {0.5, 0.5};
    struct sl_router a, b;
    assert_int_equal(sl_router_init(&a, w, 2, 1), 0);
    assert_int_equal(sl_router_init(&b, w, 2, 2), 0);
    int same = 0;
    for (int i = 0; i < 64; i++)
        same += sl_router_pick(&a) == sl_router_pick(&b);
    assert_true(same < 64);
    /* The same seed, the same sequence; seed 0 works too. */
    assert_int_equal(sl_router_init(&a, w, 2, 0), 0);
    assert_int_equal(sl_router_init(&b, w, 2, 0), 0);
    for (int i = 0; i < 64; i++)
        assert_int_equal(sl_router_pick(&a), sl_router_pick(&b));
}

static void test_one_route_and_bad_weights(void **state)
{
    struct sl_router r;
    const double one[] = {1};
    assert_int_equal(sl_router_init(&r, one, 1, 3), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sl_router_pick(&r), 0);
    const double zero[] = {1, 0};
    assert_int_equal(sl_router_init(&r, zero, 2, 3), -EINVAL);
    const double neg[] = {1, -1};
    assert_int_equal(sl_router_init(&r, neg, 2, 3), -EINVAL);
    const double nan_[] = {1, NAN};
    assert_int_equal(sl_router_init(&r, nan_, 2, 3), -EINVAL);
    assert_int_equal(sl_router_init(&r, one, 0, 3), -EINVAL);
    assert_int_equal(sl_router_init(&r, one, SL_ROUTES_MAX + 1, 3), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_90_10_over_10000_batches),
        cmocka_unit_test(test_three_ways_and_unnormalised_weights),
        cmocka_unit_test(test_small_weight_is_still_chosen),
        cmocka_unit_test(test_seeds_give_different_sequences),
        cmocka_unit_test(test_one_route_and_bad_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
