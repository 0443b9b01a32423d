/* The runtime target's pieces that need no loop: spawning a process in its own group, its exit
 * status in Lambda's words, the pipe line splitter, and the configuration checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dispatcher/runtime/proc.h"
#include "dispatcher/runtime/runtime_target.h"

struct got {
    char lines[8][64];
    size_t len[8];
    int n;
};

static void on_line(const char *line, size_t len, void *arg)
{
    struct got *g = arg;
    assert_true(g->n < 8);
    g->len[g->n] = len;
    snprintf(g->lines[g->n], sizeof(g->lines[0]), "%.*s", (int)len, line);
    g->n++;
}

static void test_lines_split_cut_and_flush(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    struct sl_buf acc;
    sl_buf_init(&acc);
    struct got g = {0};
    assert_int_equal(write(p[1], "one\ntw", 6), 6);
    assert_int_equal(sl_rt_lines_read(p[0], &acc, 8, on_line, &g), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.lines[0], "one");
    /* "two" completes; a 20-byte line is cut into pieces of at most 8. */
    assert_int_equal(write(p[1], "o\n0123456789abcdefghij\nlast", 27), 27);
    close(p[1]);
    assert_int_equal(sl_rt_lines_read(p[0], &acc, 8, on_line, &g), 1); /* EOF */
    assert_string_equal(g.lines[1], "two");
    assert_string_equal(g.lines[2], "01234567");
    assert_string_equal(g.lines[3], "89abcdef");
    assert_string_equal(g.lines[4], "ghij");
    assert_string_equal(g.lines[5], "last"); /* the rest at EOF */
    assert_int_equal(g.n, 6);
    sl_buf_release(&acc);
    close(p[0]);
}

static void test_spawn_env_dir_pipes_and_exit_status(void **state)
{
    (void)state;
    char *argv[] = {"sh", "-c", "echo \"$GREETING from $(pwd)\"; echo oops >&2; exit 7", NULL};
    char *envp[] = {"GREETING=hello", "PATH=/usr/bin:/bin", NULL};
    struct sl_rt_proc p;
    struct sl_err err = {0};
    assert_int_equal(sl_rt_proc_spawn(argv, envp, "/tmp", &p, &err), 0);
    assert_true(p.pid > 0);
    assert_true(p.pidfd >= 0);
    int st = 0;
    assert_int_equal(sl_rt_proc_reap(&p, true, &st), 1);
    char how[64];
    sl_rt_proc_describe_status(st, how, sizeof(how));
    assert_string_equal(how, "exit status 7");
    /* The pipes are non-blocking on our side: read until EOF. */
    fcntl(p.out_fd, F_SETFL, 0);
    fcntl(p.err_fd, F_SETFL, 0);
    struct sl_buf acc;
    sl_buf_init(&acc);
    struct got out = {0}, errl = {0};
    while (sl_rt_lines_read(p.out_fd, &acc, 64, on_line, &out) == 0) {
    }
    while (sl_rt_lines_read(p.err_fd, &acc, 64, on_line, &errl) == 0) {
    }
    assert_string_equal(out.lines[0], "hello from /tmp");
    assert_string_equal(errl.lines[0], "oops");
    sl_buf_release(&acc);
    sl_rt_proc_close(&p);
}

static void test_kill_reaches_the_process_group(void **state)
{
    (void)state;
    /* The shell's child sleeps too: SIGKILL to the group takes both. */
    char *argv[] = {"sh", "-c", "sleep 30 & sleep 30; wait", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct sl_rt_proc p;
    struct sl_err err = {0};
    assert_int_equal(sl_rt_proc_spawn(argv, envp, NULL, &p, &err), 0);
    pid_t pid = p.pid;
    assert_int_equal(getpgid(pid), pid);
    int st = 0;
    assert_int_equal(sl_rt_proc_reap(&p, false, &st), 0); /* still running */
    sl_rt_proc_signal(&p, SIGKILL);
    assert_int_equal(sl_rt_proc_reap(&p, true, &st), 1);
    char how[64];
    sl_rt_proc_describe_status(st, how, sizeof(how));
    assert_string_equal(how, "signal: killed");
    /* Nothing is left in the group (the background sleep was killed too). */
    for (int i = 0; i < 200 && kill(-pid, 0) == 0; i++)
        usleep(10 * 1000);
    assert_int_not_equal(kill(-pid, 0), 0);
    sl_rt_proc_close(&p);
}

static void test_spawn_of_a_missing_program_says_so(void **state)
{
    (void)state;
    char *argv[] = {"/nonexistent/bootstrap", NULL};
    char *envp[] = {NULL};
    struct sl_rt_proc p;
    struct sl_err err = {0};
    assert_true(sl_rt_proc_spawn(argv, envp, "/tmp", &p, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot start /nonexistent/bootstrap"));
}

static int check(struct sl_runtime_target_conf *c, struct sl_err *err)
{
    memset(err, 0, sizeof(*err));
    return sl_runtime_target_conf_check(c, "f.yaml: functions[0].", err);
}

static void test_conf_checks_name_key_and_value(void **state)
{
    (void)state;
    char *cmd[] = {"./bootstrap"};
    char *keys[] = {"AWS_LAMBDA_FUNCTION_NAME"}, *vals[] = {"x"};
    struct sl_runtime_target_conf c = {.command = {cmd, 1}};
    struct sl_err err;
    assert_int_equal(check(&c, &err), 0);
    c.environment = (struct sl_strmap){keys, vals, 1};
    assert_true(check(&c, &err) < 0);
    assert_string_equal(err.msg, "f.yaml: functions[0].environment: AWS_LAMBDA_FUNCTION_NAME is "
                                 "set by sluice (allowed: other names; see docs/RUNTIME.md)");
    keys[0] = "1BAD";
    assert_true(check(&c, &err) < 0);
    assert_non_null(strstr(err.msg, "\"1BAD\" is not a variable name"));
    c.environment.n = 0;
    c.function_name = "my fn";
    assert_true(check(&c, &err) < 0);
    assert_non_null(strstr(err.msg, "function_name: \"my fn\" is not a function name"));
    c.function_name = NULL;
    c.command.n = 0;
    assert_true(check(&c, &err) < 0);
    assert_non_null(strstr(err.msg, "command: 0 arguments"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_split_cut_and_flush),
        cmocka_unit_test(test_spawn_env_dir_pipes_and_exit_status),
        cmocka_unit_test(test_kill_reaches_the_process_group),
        cmocka_unit_test(test_spawn_of_a_missing_program_says_so),
        cmocka_unit_test(test_conf_checks_name_key_and_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
