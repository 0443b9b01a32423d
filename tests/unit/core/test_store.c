/* The embedded store: group commit, callback order and timing, rollback of one job, synchronous
 * mode, close with queued jobs (and by a deadline), exec and the statement cache. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/store.h"
#include "core/time.h"

#define NJOBS 1000

struct fixture {
    char dir[64];
    struct ev_loop *loop;
    struct sl_store *st;
    sqlite3 *peer; /* an independent connection, to see what is committed */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = SL_NEW(struct fixture);
    strcpy(f->dir, "/tmp/sl-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(f->loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_store_close(f->st);
    if (f->peer)
        sqlite3_close(f->peer);
    ev_loop_destroy(f->loop);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void open_store(struct fixture *f, struct ev_loop *loop, size_t max_batch)
{
    struct sl_store_opts opts = {.sync_full = false, .max_batch = max_batch};
    struct sl_err err = {0};
    int rc = sl_store_open(loop, f->dir, &opts, &f->st, &err);
    if (rc != 0)
        fail_msg("open: %s", err.msg);
    rc = sl_store_exec(
        f->st, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);", &err);
    if (rc != 0)
        fail_msg("exec: %s", err.msg);
    if (!f->peer) {
        char path[128];
        snprintf(path, sizeof(path), "%s/sluice.db", f->dir);
        assert_int_equal(sqlite3_open(path, &f->peer), SQLITE_OK);
        sqlite3_busy_timeout(f->peer, 5000);
    }
}

static int peer_has(struct fixture *f, int64_t id)
{
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(f->peer, "SELECT count(*) FROM t WHERE id = ?", -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(s, 1, id);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

static int64_t peer_count(struct fixture *f)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(f->peer, "SELECT count(*) FROM t", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* One job: inserts its id, optionally fails after inserting. */
struct job {
    struct fixture *f;
    int64_t id;
    int fail_with;         /* returned by the job after its insert */
    sem_t *gate;           /* when set, the job waits on it first */
    int64_t busy_until_ms; /* when set, the job takes until then (a slow commit) */
    int status;
    int fired;
    bool visible_at_done;
    int *order;
    int *norder;
};

static const char INSERT_SQL[] = "INSERT INTO t(id, v) VALUES(?1, 'x')";

static int job_fn(struct sl_store_conn *c, void *arg)
{
    struct job *j = arg;
    if (j->gate)
        sem_wait(j->gate);
    while (sl_mono_ms() < j->busy_until_ms) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    sqlite3_stmt *s = sl_store_stmt(c, INSERT_SQL);
    if (!s)
        return -EIO;
    sqlite3_bind_int64(s, 1, j->id);
    if (sqlite3_step(s) != SQLITE_DONE)
        return -EIO;
    return j->fail_with;
}

static void job_done(int status, void *arg)
{
    struct job *j = arg;
    j->status = status;
    j->fired++;
    j->visible_at_done = peer_has(j->f, j->id) == 1;
    if (j->order)
        j->order[(*j->norder)++] = (int)j->id;
}

static void test_group_commit_order_and_visibility(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 0);
    struct job *jobs = sl_calloc(NJOBS, sizeof(*jobs));
    int *order = sl_calloc(NJOBS, sizeof(int));
    int norder = 0;
    for (int i = 0; i < NJOBS; i++) {
        jobs[i] = (struct job){.f = f, .id = i, .order = order, .norder = &norder};
        assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &jobs[i]), 0);
    }
    assert_true(sl_store_queued(f->st) <= NJOBS);
    /* The store keeps the loop alive until every callback fired. */
    ev_run(f->loop, 0);

    assert_int_equal(norder, NJOBS);
    for (int i = 0; i < NJOBS; i++) {
        assert_int_equal(order[i], i);
        assert_int_equal(jobs[i].fired, 1);
        assert_int_equal(jobs[i].status, 0);
        assert_true(jobs[i].visible_at_done);
    }
    uint64_t commits = sl_store_commits(f->st);
    assert_true(commits >= 1);
    assert_true(commits < NJOBS);
    assert_int_equal(sl_store_jobs_committed(f->st), NJOBS);
    assert_int_equal(sl_store_queued(f->st), 0);
    assert_int_equal(peer_count(f), NJOBS);
    free(jobs);
    free(order);
}

static void test_max_batch_bounds_groups(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 7);
    enum { N = 100 };
    struct job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.f = f, .id = i};
        assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &jobs[i]), 0);
    }
    ev_run(f->loop, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(jobs[i].fired, 1);
    /* At most 7 jobs per transaction: at least ceil(100 / 7) commits. */
    assert_true(sl_store_commits(f->st) >= (N + 6) / 7);
    assert_int_equal(sl_store_jobs_committed(f->st), N);
}

static void test_failing_job_rolled_back_alone(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 0);
    sem_t gate;
    sem_init(&gate, 0, 0);
    int order[4], norder = 0;
    /* The first job holds the writer, so the next three are queued and share one group. */
    struct job jobs[4] = {
        {.f = f, .id = 100, .gate = &gate, .order = order, .norder = &norder},
        {.f = f, .id = 1, .order = order, .norder = &norder},
        {.f = f, .id = 2, .fail_with = -EPERM, .order = order, .norder = &norder},
        {.f = f, .id = 3, .order = order, .norder = &norder},
    };
    for (int i = 0; i < 4; i++)
        assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &jobs[i]), 0);
    sem_post(&gate);
    ev_run(f->loop, 0);

    assert_int_equal(jobs[0].status, 0);
    assert_int_equal(jobs[1].status, 0);
    assert_int_equal(jobs[2].status, -EPERM);
    assert_int_equal(jobs[3].status, 0);
    assert_true(jobs[1].visible_at_done);
    assert_false(jobs[2].visible_at_done);
    assert_true(jobs[3].visible_at_done);
    assert_int_equal(peer_has(f, 2), 0);
    assert_int_equal(peer_count(f), 3);
    assert_int_equal(norder, 4);
    assert_int_equal(order[0], 100);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 2);
    assert_int_equal(order[3], 3);
    assert_true(sl_store_commits(f->st) <= 2);
    assert_int_equal(sl_store_jobs_committed(f->st), 3);
    sem_destroy(&gate);
}

/* A deferred foreign key is checked at COMMIT: the whole group then fails with SL_ESTORE. */
static int fk_violation_fn(struct sl_store_conn *c, void *arg)
{
    sqlite3_stmt *s = sl_store_stmt(c, "INSERT INTO child(parent) VALUES(424242)");
    return s && sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
}

static void test_commit_failure_fails_group(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 0);
    struct sl_err err;
    assert_int_equal(sl_store_exec(f->st,
                                   "CREATE TABLE child(parent INTEGER REFERENCES t(id) "
                                   "DEFERRABLE INITIALLY DEFERRED)",
                                   &err),
                     0);
    sem_t gate;
    sem_init(&gate, 0, 0);
    struct job first = {.f = f, .id = 1, .gate = &gate};
    struct job good = {.f = f, .id = 2};
    struct job bad_status = {.f = f, .id = 999};
    assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &first), 0);
    assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &good), 0);
    assert_int_equal(sl_store_submit(f->st, fk_violation_fn, job_done, &bad_status), 0);
    sem_post(&gate);
    ev_run(f->loop, 0);
    /* `good` shares its group with the violation unless the writer was slow to pick up `first`;
     * either way the violating group fails as a whole and nothing of it is visible. */
    assert_int_equal(bad_status.status, SL_ESTORE);
    assert_int_equal(bad_status.fired, 1);
    if (good.status == SL_ESTORE)
        assert_int_equal(peer_has(f, 2), 0);
    else
        assert_int_equal(peer_has(f, 2), 1);

    /* The store goes on working after a failed commit. */
    struct job after = {.f = f, .id = 3};
    assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &after), 0);
    ev_run(f->loop, 0);
    assert_int_equal(after.status, 0);
    assert_true(after.visible_at_done);
    sem_destroy(&gate);
}

static void test_sync_mode(void **state)
{
    struct fixture *f = *state;
    open_store(f, NULL, 0);
    struct job ok = {.f = f, .id = 7};
    assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &ok), 0);
    /* done fired before submit returned, after the commit. */
    assert_int_equal(ok.fired, 1);
    assert_int_equal(ok.status, 0);
    assert_true(ok.visible_at_done);

    struct job bad = {.f = f, .id = 8, .fail_with = -EINVAL};
    assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &bad), 0);
    assert_int_equal(bad.fired, 1);
    assert_int_equal(bad.status, -EINVAL);
    assert_false(bad.visible_at_done);

    struct job dup = {.f = f, .id = 7}; /* primary key clash */
    assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &dup), 0);
    assert_int_equal(dup.status, -EIO);
    assert_int_equal(sl_store_commits(f->st), 3);
    assert_int_equal(sl_store_jobs_committed(f->st), 1);
    assert_int_equal(sl_store_queued(f->st), 0);
    assert_int_equal(peer_count(f), 1);

    /* A NULL done is fine. */
    struct job quiet = {.f = f, .id = 9};
    assert_int_equal(sl_store_submit(f->st, job_fn, NULL, &quiet), 0);
    assert_int_equal(peer_has(f, 9), 1);
}

static void test_close_fires_queued(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 10);
    enum { N = 200 };
    sem_t gate;
    sem_init(&gate, 0, 0);
    struct job jobs[N];
    int order[N], norder = 0;
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.f = f, .id = i, .order = order, .norder = &norder};
        if (i == 0)
            jobs[i].gate = &gate;
        assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &jobs[i]), 0);
    }
    assert_true(sl_store_queued(f->st) > 0);
    sem_post(&gate);
    /* No ev_run: close runs everything queued and fires the callbacks itself. */
    sl_store_close(f->st);
    f->st = NULL;
    assert_int_equal(norder, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(order[i], i);
        assert_int_equal(jobs[i].fired, 1);
        assert_int_equal(jobs[i].status, 0);
        assert_true(jobs[i].visible_at_done);
    }
    /* The data survives a reopen; the loop has no leftover reference from the store. */
    open_store(f, f->loop, 0);
    assert_int_equal(peer_count(f), N);
    ev_run(f->loop, 0);
    sem_destroy(&gate);
}

/* close_by: the job running at the deadline ends; the jobs queued behind it are not run, and
 * their callbacks fire with SL_ECLOSED. */
static void test_close_by_cuts_queued_at_deadline(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 1); /* one job per group */
    enum { N = 20 };
    struct job jobs[N];
    int64_t deadline = sl_mono_ms() + 100;
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.f = f, .id = i};
        if (i == 0)
            jobs[i].busy_until_ms = deadline + 20;
        assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &jobs[i]), 0);
    }
    assert_int_equal(sl_store_close_by(f->st, deadline), -ETIMEDOUT);
    f->st = NULL;
    assert_int_equal(jobs[0].fired, 1);
    for (int i = 1; i < N; i++) {
        assert_int_equal(jobs[i].fired, 1);
        assert_int_equal(jobs[i].status, SL_ECLOSED);
        assert_int_equal(peer_has(f, i), 0);
    }
    ev_run(f->loop, 0); /* no reference left on the loop */
}

/* close_by with time to spare runs everything, as close does. */
static void test_close_by_in_time_runs_all(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 0);
    enum { N = 50 };
    struct job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.f = f, .id = i};
        assert_int_equal(sl_store_submit(f->st, job_fn, job_done, &jobs[i]), 0);
    }
    assert_int_equal(sl_store_close_by(f->st, sl_mono_ms() + 60000), 0);
    f->st = NULL;
    for (int i = 0; i < N; i++)
        assert_int_equal(jobs[i].status, 0);
    assert_int_equal(peer_count(f), N);
    assert_int_equal(sl_store_close_by(NULL, 0), 0);
}

/* A callback that submits more work while the store is closing gets SL_ECLOSED. */
struct resubmit {
    struct sl_store *st;
    int rc;
    int fired;
};

static int noop_fn(struct sl_store_conn *c, void *arg)
{
    return 0;
}

static void resubmit_done(int status, void *arg)
{
    struct resubmit *r = arg;
    r->fired++;
    r->rc = sl_store_submit(r->st, noop_fn, resubmit_done, r);
}

static void test_submit_while_closing(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 0);
    struct resubmit r = {.st = f->st};
    assert_int_equal(sl_store_submit(f->st, noop_fn, resubmit_done, &r), 0);
    sl_store_close(f->st);
    f->st = NULL;
    assert_int_equal(r.fired, 1);
    assert_int_equal(r.rc, SL_ECLOSED);
}

/* Closing from inside a done callback fires the rest and stops cleanly. */
struct closer {
    struct fixture *f;
    int fired;
};

static void close_done(int status, void *arg)
{
    struct closer *c = arg;
    c->fired++;
    if (c->f->st) {
        struct sl_store *st = c->f->st;
        c->f->st = NULL;
        sl_store_close(st);
    }
}

static void test_close_from_callback(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 0);
    struct closer c[5];
    for (int i = 0; i < 5; i++) {
        c[i] = (struct closer){.f = f};
        assert_int_equal(sl_store_submit(f->st, noop_fn, close_done, &c[i]), 0);
    }
    ev_run(f->loop, 0);
    assert_null(f->st);
    for (int i = 0; i < 5; i++)
        assert_int_equal(c[i].fired, 1);
}

/* Statement cache. */
static const char SELECT_PARAM[] = "SELECT ?1";

struct cache_check {
    sqlite3_stmt *first;
    sqlite3_stmt *second;
    int rc;
};

static int cache_job(struct sl_store_conn *c, void *arg)
{
    struct cache_check *cc = arg;
    cc->first = sl_store_stmt(c, SELECT_PARAM);
    sqlite3_bind_int(cc->first, 1, 5);
    sqlite3_step(cc->first); /* left mid-step on purpose */
    cc->second = sl_store_stmt(c, SELECT_PARAM);
    cc->rc = sqlite3_step(cc->second);
    if (cc->rc == SQLITE_ROW && sqlite3_column_type(cc->second, 0) != SQLITE_NULL)
        cc->rc = -1;
    return 0;
}

static void test_statement_cache(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 0);
    struct sl_store_conn *r = sl_store_reader(f->st);
    assert_non_null(r);
    assert_non_null(sl_store_conn_db(r));

    sqlite3_stmt *s1 = sl_store_stmt(r, SELECT_PARAM);
    assert_non_null(s1);
    sqlite3_bind_int(s1, 1, 5);
    assert_int_equal(sqlite3_step(s1), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s1, 0), 5);
    /* Same pointer again: same statement, reset, bindings cleared. */
    sqlite3_stmt *s2 = sl_store_stmt(r, SELECT_PARAM);
    assert_ptr_equal(s1, s2);
    assert_int_equal(sqlite3_step(s2), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(s2, 0), SQLITE_NULL);
    /* A different SQL pointer is a different statement. */
    sqlite3_stmt *s3 = sl_store_stmt(r, "SELECT count(*) FROM t");
    assert_non_null(s3);
    assert_ptr_not_equal(s3, s1);
    assert_int_equal(sqlite3_step(s3), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s3, 0), 0);
    sqlite3_reset(s3);
    /* Bad SQL gives NULL. */
    assert_null(sl_store_stmt(r, "SELEKT nothing"));
    assert_null(sl_store_stmt(NULL, SELECT_PARAM));

    /* The writer connection has its own cache. */
    struct cache_check cc = {0};
    assert_int_equal(sl_store_submit(f->st, cache_job, NULL, &cc), 0);
    ev_run(f->loop, 0);
    assert_non_null(cc.first);
    assert_ptr_equal(cc.first, cc.second);
    assert_ptr_not_equal(cc.first, s1);
    assert_int_equal(cc.rc, SQLITE_ROW);
}

static void test_exec_and_open_errors(void **state)
{
    struct fixture *f = *state;
    open_store(f, f->loop, 0);
    struct sl_err err = {0};
    assert_int_equal(sl_store_exec(f->st, "CREATE TABLE oops(", &err), SL_ESTORE);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(sl_store_exec(f->st,
                                   "CREATE TABLE IF NOT EXISTS u(a); INSERT INTO u "
                                   "VALUES(1); INSERT INTO u VALUES(2);",
                                   &err),
                     0);
    sl_store_close(f->st);
    f->st = NULL;

    /* A nested directory is created with mode 0700. */
    char nested[128];
    snprintf(nested, sizeof(nested), "%s/a/b", f->dir);
    struct sl_store *st = NULL;
    assert_int_equal(sl_store_open(f->loop, nested, NULL, &st, &err), 0);
    struct stat sb;
    assert_int_equal(stat(nested, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    sl_store_close(st);
    sl_store_close(NULL);

    /* A file where the directory should be. */
    char file[128];
    snprintf(file, sizeof(file), "%s/file", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    st = NULL;
    assert_true(sl_store_open(f->loop, file, NULL, &st, &err) < 0);
    assert_null(st);
    assert_true(strlen(err.msg) > 0);
    /* A file name with a slash. */
    struct sl_store_opts bad = {.file_name = "x/y.db"};
    assert_true(sl_store_open(f->loop, f->dir, &bad, &st, &err) < 0);
    assert_int_equal(sl_store_submit(NULL, noop_fn, NULL, NULL), -EINVAL);
    /* The loop holds no reference from the failed opens. */
    ev_run(f->loop, 0);
}

/* ---- owning a store, opening an existing one, schema versions ---- */

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* opts.existing opens a store that is there, and creates nothing when it is not. */
static void test_existing_never_creates(void **state)
{
    struct fixture *f = *state;
    struct sl_store_opts guest = {.existing = true};
    struct sl_store *st = NULL;
    struct sl_err err = {0};
    char missing[128], db[128];
    snprintf(missing, sizeof(missing), "%s/nope", f->dir);
    snprintf(db, sizeof(db), "%s/sluice.db", f->dir);
    assert_int_equal(sl_store_open(f->loop, missing, &guest, &st, &err), SL_ENOTFOUND);
    assert_null(st);
    assert_non_null(strstr(err.msg, "no store in"));
    assert_non_null(strstr(err.msg, "no such directory"));
    assert_false(exists(missing));
    assert_int_equal(sl_store_open(f->loop, f->dir, &guest, &st, &err), SL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no sluice.db there"));
    assert_false(exists(db));

    open_store(f, f->loop, 0);
    sl_store_close(f->st);
    f->st = NULL;
    assert_int_equal(sl_store_open(f->loop, f->dir, &guest, &st, &err), 0);
    assert_string_equal(sl_store_path(st), db);
    sl_store_close(st);
    ev_run(f->loop, 0);
}

/* One owner: a second lock is refused with the holder's PID; a guest still opens. */
static void test_one_owner(void **state)
{
    struct fixture *f = *state;
    struct sl_store_opts own = {.lock = true}, guest = {.existing = true};
    struct sl_store *owner = NULL, *second = NULL, *g = NULL;
    struct sl_err err = {0};
    assert_int_equal(sl_store_open(f->loop, f->dir, &own, &owner, &err), 0);
    assert_int_equal(sl_store_open(f->loop, f->dir, &own, &second, &err), -EWOULDBLOCK);
    assert_null(second);
    char want[64];
    snprintf(want, sizeof(want), "pid %ld holds its lock file", (long)getpid());
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, SL_STORE_LOCK_FILE));
    assert_int_equal(sl_store_open(f->loop, f->dir, &guest, &g, &err), 0);
    sl_store_close(g);
    sl_store_close(owner);
    assert_int_equal(sl_store_open(f->loop, f->dir, &own, &second, &err), 0);
    sl_store_close(second);
    ev_run(f->loop, 0);
}

static int peer_version(sqlite3 *db)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* A database as another version of sluice left it: table t (as every version has) and a
 * user_version. */
static sqlite3 *make_db(struct fixture *f, int version, const char *more_sql)
{
    char path[128], sql[256];
    snprintf(path, sizeof(path), "%s/sluice.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT); %s "
             "PRAGMA user_version = %d;",
             more_sql ? more_sql : "", version);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static int open_versioned(struct fixture *f, const struct sl_store_schema *sc, bool lock,
                          struct sl_err *err)
{
    struct sl_store_opts o = {.lock = lock, .existing = !lock, .schema = sc};
    sl_err_clear(err);
    int rc = sl_store_open(f->loop, f->dir, &o, &f->st, err);
    if (rc < 0)
        f->st = NULL;
    return rc;
}

static int64_t peer_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

static void test_schema_versions(void **state)
{
    struct fixture *f = *state;
    static const struct sl_store_migration steps[] = {
        {.version = 1, .sql = NULL},
        {.version = 2, .sql = "CREATE TABLE a(x INTEGER)"},
        {.version = 3, .sql = "ALTER TABLE a ADD COLUMN y INTEGER; INSERT INTO a VALUES(1, 2)"},
    };
    static const struct sl_store_schema v3 = {.version = 3, .steps = steps};
    struct sl_err err;

    /* A new database is stamped with the current version: no step runs. */
    assert_int_equal(open_versioned(f, &v3, true, &err), 0);
    assert_int_equal(sl_store_schema_version(f->st), 3);
    sl_store_close(f->st);
    f->st = NULL;
    sqlite3 *db = make_db(f, 3, NULL);
    assert_int_equal(peer_version(db), 3);
    assert_int_equal(peer_int(db, "SELECT count(*) FROM a"), -1); /* no table a */

    /* A store from before versions (0, with its tables): every step, in order. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 0", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(open_versioned(f, &v3, true, &err), 0);
    assert_int_equal(sl_store_schema_version(f->st), 3);
    assert_int_equal(peer_version(db), 3);
    assert_int_equal(peer_int(db, "SELECT y FROM a WHERE x = 1"), 2);
    sl_store_close(f->st);
    f->st = NULL;

    /* From version 2: the last step only. */
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE a; CREATE TABLE a(x INTEGER); "
                                  "PRAGMA user_version = 2",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(open_versioned(f, &v3, true, &err), 0);
    assert_int_equal(peer_int(db, "SELECT count(*) FROM a"), 1);
    sl_store_close(f->st);
    f->st = NULL;

    /* Not locked (a guest): the current version opens, an older one is not migrated. */
    assert_int_equal(open_versioned(f, &v3, false, &err), 0);
    sl_store_close(f->st);
    f->st = NULL;
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(open_versioned(f, &v3, false, &err), SL_ESCHEMA);
    assert_non_null(strstr(err.msg, "has schema version 2, older than this sluice's (3)"));
    assert_non_null(strstr(err.msg, "`sluice run` migrates it"));
    assert_int_equal(peer_version(db), 2);

    /* Newer than this binary knows: refused, owner or not, and left as it is. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 7", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(open_versioned(f, &v3, true, &err), SL_ESCHEMA);
    assert_non_null(strstr(err.msg, "has schema version 7, newer than this sluice knows (3)"));
    assert_int_equal(open_versioned(f, &v3, false, &err), SL_ESCHEMA);
    assert_non_null(strstr(err.msg, "newer than this sluice knows"));
    assert_int_equal(peer_version(db), 7);
    /* Without a schema the version is not looked at. */
    assert_int_equal(open_versioned(f, NULL, true, &err), 0);
    sl_store_close(f->st);
    f->st = NULL;

    /* A step that fails: what it did is rolled back, the steps before it stay, SQLite says
     * why. */
    static const struct sl_store_migration bad_steps[] = {
        {.version = 1, .sql = "CREATE TABLE b(x)"},
        {.version = 2, .sql = "INSERT INTO b VALUES(1); CREATE TABLE oops("},
    };
    static const struct sl_store_schema bad = {.version = 2, .steps = bad_steps};
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 0", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(open_versioned(f, &bad, true, &err), SL_ESCHEMA);
    assert_non_null(strstr(err.msg, "from version 1 to 2 failed (it stays at version 1)"));
    assert_non_null(strstr(err.msg, "incomplete input"));
    assert_int_equal(peer_version(db), 1);
    assert_int_equal(peer_int(db, "SELECT count(*) FROM b"), 0);
    sqlite3_close(db);
    ev_run(f->loop, 0);
}

/* A write that fails in SQLite logs SQLite's own message, not only "store failure". */
static int dup_fn(struct sl_store_conn *c, void *arg)
{
    sqlite3_stmt *s = sl_store_stmt(c, INSERT_SQL);
    sqlite3_bind_int64(s, 1, 1);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : SL_ESTORE;
}

static void status_cb(int status, void *arg)
{
    *(int *)arg = status;
}

static void test_failed_write_logs_sqlite_message(void **state)
{
    struct fixture *f = *state;
    open_store(f, NULL, 0);
    int status = 1;
    assert_int_equal(sl_store_submit(f->st, dup_fn, NULL, NULL), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    assert_int_equal(sl_store_submit(f->st, dup_fn, status_cb, &status), 0);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char out[4096];
    ssize_t n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    assert_true(n > 0);
    out[n] = '\0';
    assert_int_equal(status, SL_ESTORE);
    assert_non_null(strstr(out, "[store] 1 of 1 writes failed and were rolled back: UNIQUE "
                                "constraint failed: t.id"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit_order_and_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_batch_bounds_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_job_rolled_back_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_fails_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_fires_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_by_cuts_queued_at_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_by_in_time_runs_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_while_closing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_and_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_never_creates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_logs_sqlite_message, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
