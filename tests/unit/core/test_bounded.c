/* Calls bounded by a deadline, and the watchdog: a call that returns in time is joined; one still
 * running at the deadline is left to finish on its own; the watchdog ends a process that outlives
 * its deadline with its exit status and one line naming what is pending, and does nothing once
 * stopped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/bounded.h"
#include "core/time.h"
#include "core/watchdog.h"

static void count_fn(void *arg)
{
    (*(int *)arg)++;
}

static void test_call_returns_in_time(void **state)
{
    int n = 0;
    assert_int_equal(sl_bounded_call(count_fn, &n, sl_mono_ms() + 10000), 0);
    assert_int_equal(n, 1); /* joined: its effect is visible */
}

/* Blocks until `go`, then says it is done. */
struct gate {
    sem_t go;
    sem_t done;
    int ran;
};

static void gated_fn(void *arg)
{
    struct gate *g = arg;
    sem_wait(&g->go);
    g->ran = 1;
    sem_post(&g->done);
}

static void test_call_left_running_at_deadline(void **state)
{
    static struct gate g; /* outlives the call: its thread still uses it */
    sem_init(&g.go, 0, 0);
    sem_init(&g.done, 0, 0);
    int64_t t0 = sl_mono_ms();
    assert_int_equal(sl_bounded_call(gated_fn, &g, t0 + 100), -EINPROGRESS);
    int64_t waited = sl_mono_ms() - t0;
    assert_true(waited >= 100);
    assert_true(waited < 5000);
    assert_int_equal(g.ran, 0);
    /* It finishes on its own once unblocked. */
    sem_post(&g.go);
    sem_wait(&g.done);
    assert_int_equal(g.ran, 1);
}

static void *gated_main(void *arg)
{
    gated_fn(arg);
    return NULL;
}

static void test_join_by_deadline(void **state)
{
    struct gate g = {0};
    sem_init(&g.go, 0, 0);
    sem_init(&g.done, 0, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, gated_main, &g), 0);
    assert_int_equal(sl_bounded_join(th, sl_mono_ms() + 50), -EINPROGRESS);
    sem_post(&g.go);
    assert_int_equal(sl_bounded_join(th, sl_mono_ms() + 10000), 0);
    assert_int_equal(g.ran, 1);
}

/* Reads what fd gives until EOF, for at most 20 s. */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    int64_t deadline = sl_mono_ms() + 20000;
    while (n + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - sl_mono_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static void test_watchdog_ends_a_stuck_process(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        struct sl_watchdog *w = NULL;
        if (sl_watchdog_start(sl_mono_ms() + 100, 70, "test", "test deadline passed", &w) < 0)
            _exit(1);
        sl_watchdog_note(w, "stuck in step %d", 3);
        for (;;)
            pause(); /* a step that never returns */
    }
    close(fds[1]);
    char out[4096];
    read_all(fds[0], out, sizeof(out)); /* EOF: the child exited */
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 70);
    assert_non_null(strstr(out, "test deadline passed; still pending: stuck in step 3"));
    assert_non_null(strstr(out, "exiting now with status 70"));
}

static void test_watchdog_stopped_in_time(void **state)
{
    struct sl_watchdog *w = NULL;
    assert_int_equal(sl_watchdog_start(sl_mono_ms() + 60000, 70, "test", "never", &w), 0);
    sl_watchdog_note(w, "working");
    int64_t t0 = sl_mono_ms();
    sl_watchdog_stop(w);
    assert_true(sl_mono_ms() - t0 < 5000); /* stop does not wait for the deadline */
    sl_watchdog_stop(NULL);
    sl_watchdog_note(NULL, "ignored");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_returns_in_time),
        cmocka_unit_test(test_call_left_running_at_deadline),
        cmocka_unit_test(test_join_by_deadline),
        cmocka_unit_test(test_watchdog_ends_a_stuck_process),
        cmocka_unit_test(test_watchdog_stopped_in_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
