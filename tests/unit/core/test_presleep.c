/* core/presleep: one run before the loop sleeps, also when armed from inside a prepare
 * watcher (which libev would otherwise run only after sleeping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/presleep.h"

static int runs;
static int timer_fired;
static struct sl_presleep ps;

static void count(void *arg)
{
    (void)arg;
    runs++;
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    timer_fired = 1;
}

static void arming_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    ev_prepare_stop(loop, w);
    sl_presleep_arm(&ps);
}

/* Armed from a prepare watcher with only a far timer pending: the run happens in the same
 * loop turn, before the loop blocks on the timer. */
static void test_armed_from_a_prepare_runs_before_sleeping(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    runs = timer_fired = 0;
    sl_presleep_init(&ps, loop, count, NULL);
    ev_timer far;
    ev_timer_init(&far, timer_cb, 3600., 0.);
    ev_timer_start(loop, &far);
    ev_prepare arming;
    ev_prepare_init(&arming, arming_prepare_cb);
    ev_prepare_start(loop, &arming);
    while (runs == 0 && !timer_fired)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(runs, 1);
    assert_int_equal(timer_fired, 0);
    ev_timer_stop(loop, &far);
    ev_loop_destroy(loop);
}

/* Arming twice before a run gives one run; disarm cancels. */
static void test_one_run_per_arming_and_disarm_cancels(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    runs = 0;
    sl_presleep_init(&ps, loop, count, NULL);
    sl_presleep_arm(&ps);
    sl_presleep_arm(&ps);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(runs, 1);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(runs, 1);
    sl_presleep_arm(&ps);
    sl_presleep_disarm(&ps);
    ev_run(loop, EVRUN_NOWAIT);
    assert_int_equal(runs, 1);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_armed_from_a_prepare_runs_before_sleeping),
        cmocka_unit_test(test_one_run_per_arming_and_disarm_cancels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
