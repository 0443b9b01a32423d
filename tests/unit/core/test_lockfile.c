/* The lock file: one holder at a time, the PID of the holder named to the others, the lock gone
 * with its holder however it ends, and not passed on to programs the holder starts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/lockfile.h"

extern char **environ;

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/sl-lock-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/sluice.lock", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void read_text(const char *path, char *out, size_t cap)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A child that tries the lock and exits 0 when refused by `want` (its holder), 1 otherwise. */
static void child_expects_holder(const char *path, pid_t want)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sl_lockfile *lf = NULL;
        pid_t holder = -1;
        int rc = sl_lockfile_acquire(path, &lf, &holder);
        _exit(rc == -EWOULDBLOCK && holder == want && !lf ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_one_holder_named_to_others(void **state)
{
    struct fixture *f = *state;
    struct sl_lockfile *lf = NULL, *again = NULL;
    pid_t holder = -1;
    assert_int_equal(sl_lockfile_acquire(f->path, &lf, &holder), 0);
    assert_non_null(lf);
    assert_int_equal(holder, 0);
    char text[64], want[64];
    read_text(f->path, text, sizeof(text));
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    assert_string_equal(text, want);

    /* Another process is refused and told who holds it; so is another open in this one. */
    child_expects_holder(f->path, getpid());
    assert_int_equal(sl_lockfile_acquire(f->path, &again, &holder), -EWOULDBLOCK);
    assert_null(again);
    assert_int_equal(holder, getpid());
    assert_int_equal(sl_lockfile_acquire(f->path, &again, NULL), -EWOULDBLOCK);

    /* Released: the next one gets it. */
    sl_lockfile_release(lf);
    assert_int_equal(sl_lockfile_acquire(f->path, &again, &holder), 0);
    sl_lockfile_release(again);
    sl_lockfile_release(NULL);
}

/* A holder killed with SIGKILL leaves its PID in the file, never the lock. */
static void test_lock_dies_with_its_holder(void **state)
{
    struct fixture *f = *state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sl_lockfile *lf = NULL;
        char c = sl_lockfile_acquire(f->path, &lf, NULL) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_int_equal(c, 'y');

    struct sl_lockfile *lf = NULL;
    pid_t holder = 0;
    assert_int_equal(sl_lockfile_acquire(f->path, &lf, &holder), -EWOULDBLOCK);
    assert_int_equal(holder, pid);
    child_expects_holder(f->path, pid);

    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    char text[64], want[64];
    snprintf(want, sizeof(want), "%ld\n", (long)pid);
    read_text(f->path, text, sizeof(text));
    assert_string_equal(text, want);
    assert_int_equal(sl_lockfile_acquire(f->path, &lf, &holder), 0);
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    read_text(f->path, text, sizeof(text));
    assert_string_equal(text, want);
    sl_lockfile_release(lf);
}

/* A file whose holder wrote no PID (or a PID of a process that is gone): refused, holder 0. */
static void test_unknown_holder(void **state)
{
    struct fixture *f = *state;
    write_text(f->path, "not a pid\n");
    int fd = open(f->path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    struct sl_lockfile *lf = NULL;
    pid_t holder = -1;
    assert_int_equal(sl_lockfile_acquire(f->path, &lf, &holder), -EWOULDBLOCK);
    assert_int_equal(holder, 0);
    close(fd);
    /* A stale file, unlocked: taken, and rewritten. */
    write_text(f->path, "2147483000\n");
    assert_int_equal(sl_lockfile_acquire(f->path, &lf, &holder), 0);
    sl_lockfile_release(lf);
}

/* A program the holder starts does not hold the lock once the holder released it. */
static void test_not_inherited_by_programs(void **state)
{
    struct fixture *f = *state;
    struct sl_lockfile *lf = NULL;
    assert_int_equal(sl_lockfile_acquire(f->path, &lf, NULL), 0);
    pid_t child;
    char *argv[] = {"sleep", "30", NULL};
    assert_int_equal(posix_spawnp(&child, "sleep", NULL, NULL, argv, environ), 0);
    sl_lockfile_release(lf);
    lf = NULL;
    int rc = sl_lockfile_acquire(f->path, &lf, NULL);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(rc, 0);
    sl_lockfile_release(lf);
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/no/such/dir/sluice.lock", f->dir);
    struct sl_lockfile *lf = NULL;
    pid_t holder = -1;
    assert_int_equal(sl_lockfile_acquire(missing, &lf, &holder), -ENOENT);
    assert_null(lf);
    assert_int_equal(holder, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_holder_named_to_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_dies_with_its_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_inherited_by_programs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
