/* Faults the store must notice: its directory deleted or replaced, its database file renamed
 * (the store is then lost: later writes fail with SL_ESTORELOST, cleanup jobs still run, reads
 * still work), and writes that fail for want of space (-ENOSPC), from SQLITE_FULL or from the
 * file size limit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/store.h"
#include "core/store_fault.h"

struct fixture {
    char root[64];  /* removed at teardown */
    char dir[96];   /* the store directory, inside root */
    char moved[96]; /* where a test may move it */
    struct ev_loop *loop;
    struct sl_store *st;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    struct fixture *f = SL_NEW(struct fixture);
    strcpy(f->root, "/tmp/sl-faults-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
    snprintf(f->moved, sizeof(f->moved), "%s/data.old", f->root);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_store_close(f->st);
    ev_loop_destroy(f->loop);
    rm_rf(f->root);
    free(f);
    return 0;
}

static void open_store(struct fixture *f, struct ev_loop *loop)
{
    struct sl_store_opts opts = {.sync_full = false};
    struct sl_err err = {0};
    if (sl_store_open(loop, f->dir, &opts, &f->st, &err) != 0)
        fail_msg("open: %s", err.msg);
    if (sl_store_exec(f->st, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)", &err) != 0)
        fail_msg("exec: %s", err.msg);
}

struct job {
    int64_t id; /* > 0: insert it; < 0: delete -id */
    int blob;   /* bytes of the inserted value */
    int runs;   /* times the job ran */
    int status;
    int fired;
};

static int job_fn(struct sl_store_conn *c, void *arg)
{
    struct job *j = arg;
    j->runs++;
    sqlite3_stmt *s = j->id > 0 ? sl_store_stmt(c, "INSERT INTO t(id, v) VALUES(?1, zeroblob(?2))")
                                : sl_store_stmt(c, "DELETE FROM t WHERE id = ?1");
    if (!s)
        return SL_ESTORE;
    sqlite3_bind_int64(s, 1, j->id > 0 ? j->id : -j->id);
    if (j->id > 0)
        sqlite3_bind_int(s, 2, j->blob);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : SL_ESTORE;
}

static void job_done(int status, void *arg)
{
    struct job *j = arg;
    j->status = status;
    j->fired++;
}

/* Submits and waits for the callback (the store keeps the loop alive while a job is pending). */
static void run_job(struct fixture *f, struct job *j, bool cleanup)
{
    int rc = cleanup ? sl_store_submit_cleanup(f->st, job_fn, job_done, j)
                     : sl_store_submit(f->st, job_fn, job_done, j);
    assert_int_equal(rc, 0);
    if (f->loop)
        ev_run(f->loop, 0);
    assert_int_equal(j->fired, 1);
}

/* Rows the read connection sees with this id. */
static int reader_has(struct fixture *f, int64_t id)
{
    sqlite3_stmt *s = sl_store_stmt(sl_store_reader(f->st), "SELECT count(*) FROM t WHERE id = ?");
    assert_non_null(s);
    sqlite3_bind_int64(s, 1, id);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int n = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    return n;
}

static void test_deleted_directory_loses_the_store(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop);
    struct job a = {.id = 1}, b = {.id = 2};
    run_job(f, &a, false);
    run_job(f, &b, false);
    assert_int_equal(a.status, 0);
    assert_null(sl_store_lost(f->st));
    assert_int_equal(sl_store_check(f->st), 0);
    assert_string_equal(sl_store_dir(f->st), f->dir);

    rm_rf(f->dir);
    /* Committed after the deletion, to a file no restart would find: not stored. */
    struct job c = {.id = 3};
    run_job(f, &c, false);
    assert_int_equal(c.status, SL_ESTORELOST);
    assert_non_null(sl_store_lost(f->st));
    assert_string_equal(sl_store_lost(f->st), "the directory was deleted");
    assert_int_equal(sl_store_check(f->st), SL_ESTORELOST);

    /* From now on writes fail without running. */
    struct job d = {.id = 4};
    run_job(f, &d, false);
    assert_int_equal(d.status, SL_ESTORELOST);
    assert_int_equal(d.runs, 0);

    /* Cleanup jobs still run on the open database, and reads see them. */
    assert_int_equal(reader_has(f, 1), 1);
    struct job del = {.id = -1};
    run_job(f, &del, true);
    assert_int_equal(del.status, 0);
    assert_int_equal(reader_has(f, 1), 0);
    assert_int_equal(reader_has(f, 2), 1);
}

/* An idle store notices by itself, from its timer on the loop. */
static void stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void test_idle_store_notices(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop);
    rm_rf(f->dir);
    assert_null(sl_store_lost(f->st));
    ev_timer stop;
    ev_timer_init(&stop, stop_cb, SL_STORE_CHECK_INTERVAL_MS / 1000.0 * 2.5, 0.);
    ev_timer_start(f->loop, &stop);
    ev_run(f->loop, 0);
    assert_non_null(sl_store_lost(f->st));
    /* Its timer stopped and holds no reference: with nothing else, the loop ends at once. */
    ev_run(f->loop, 0);
}

static void test_replaced_directory_loses_the_store(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop);
    assert_int_equal(rename(f->dir, f->moved), 0);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    assert_int_equal(sl_store_check(f->st), SL_ESTORELOST);
    assert_string_equal(sl_store_lost(f->st), "the directory was replaced by another one");
}

static void test_renamed_database_loses_the_store(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop);
    char from[160], to[160];
    snprintf(from, sizeof(from), "%s/sluice.db", f->dir);
    snprintf(to, sizeof(to), "%s/sluice.db.bak", f->dir);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(sl_store_check(f->st), SL_ESTORELOST);
    assert_string_equal(sl_store_lost(f->st), "the database file was deleted, renamed or replaced");
}

static void test_sync_mode_notices_at_commit(void **state)
{
    struct fixture *f = *state;
    open_store(f, NULL);
    struct job a = {.id = 1};
    run_job(f, &a, false);
    assert_int_equal(a.status, 0);
    rm_rf(f->dir);
    struct job b = {.id = 2};
    run_job(f, &b, false);
    assert_int_equal(b.status, SL_ESTORELOST);
    assert_non_null(sl_store_lost(f->st));
}

/* SQLITE_FULL (here from PRAGMA max_page_count,
 * https://www.sqlite.org/pragma.html#pragma_max_page_count) is -ENOSPC; the rows that fit stay, and
 * deleting makes room again. */
static void test_full_database_is_no_space(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop);
    struct sl_err err;
    assert_int_equal(sl_store_exec(f->st, "PRAGMA max_page_count = 40", &err), 0);
    struct job jobs[40];
    int i, stored = 0;
    for (i = 0; i < 40; i++) {
        jobs[i] = (struct job){.id = i + 1, .blob = 8000};
        run_job(f, &jobs[i], false);
        if (jobs[i].status < 0)
            break;
        stored++;
    }
    assert_true(i < 40);
    assert_int_equal(jobs[i].status, -ENOSPC);
    assert_true(stored > 0);
    assert_null(sl_store_lost(f->st));
    for (int k = 1; k <= stored; k++)
        assert_int_equal(reader_has(f, k), 1);
    assert_int_equal(reader_has(f, i + 1), 0);

    struct job del = {.id = -1};
    run_job(f, &del, false);
    assert_int_equal(del.status, 0);
    struct job again = {.id = 1000, .blob = 8000};
    run_job(f, &again, false);
    assert_int_equal(again.status, 0);
}

/* Past RLIMIT_FSIZE write(2) fails with EFBIG (SIGXFSZ ignored), which SQLite reports as
 * SQLITE_IOERR_WRITE: the store still calls it -ENOSPC. Runs in a child, as the limit is per
 * process. */
static int fsize_child(const char *dir)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 256 * 1024, .rlim_max = 256 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        return 10;
    struct fixture f = {0};
    snprintf(f.dir, sizeof(f.dir), "%s", dir);
    struct sl_store_opts opts = {.sync_full = false};
    struct sl_err err;
    if (sl_store_open(NULL, f.dir, &opts, &f.st, &err) < 0 ||
        sl_store_exec(f.st, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)", &err) < 0)
        return 11;
    int rc = 12;
    for (int i = 1; i <= 100; i++) {
        struct job j = {.id = i, .blob = 16000};
        if (sl_store_submit(f.st, job_fn, job_done, &j) < 0)
            break;
        if (j.status < 0) {
            rc = j.status == -ENOSPC && i > 1 ? 0 : 13;
            break;
        }
    }
    sl_store_close(f.st);
    return rc;
}

static void test_file_size_limit_is_no_space(void **state)
{
    struct fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fsize_child(f->dir));
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
}

static void test_write_error_reading(void **state)
{
    (void)state;
    /* Not a write error at all: SL_ESTORE, no note. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "SELEKT", NULL, NULL, NULL), SQLITE_OK);
    const char *note = "x";
    assert_int_equal(sl_store_write_error(db, "/", NULL, &note), SL_ESTORE);
    assert_string_equal(note, "");
    assert_int_equal(sl_store_write_error(NULL, NULL, NULL, NULL), SL_ESTORE);
    sqlite3_close(db);

    /* A directory that cannot be stat'ed for another reason is not called lost. */
    struct sl_store_dir_id id;
    assert_int_equal(sl_store_dir_id("/nonexistent-sl-dir", &id), -ENOENT);
    assert_int_equal(sl_store_dir_id("/", &id), 0);
    const char *why = NULL;
    assert_false(sl_store_files_lost("/", &id, NULL, &why));
    assert_true(sl_store_files_lost("/nonexistent-sl-dir", &id, NULL, &why));
    assert_string_equal(why, "the directory was deleted");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deleted_directory_loses_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_store_notices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_directory_loses_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renamed_database_loses_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_mode_notices_at_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_database_is_no_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_size_limit_is_no_space, setup, teardown),
        cmocka_unit_test(test_write_error_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
