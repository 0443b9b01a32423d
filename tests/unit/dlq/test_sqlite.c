/* The "sqlite" DLQ sink: put (after commit), list with filters, remove, depth, describe, several
 * named sinks in one store, persistence across close and reopen, the registry and create. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "dlq/dlq.h"
#include "dlq/sqlite/sqlite.h"

#define T0 1767323045678LL

struct fixture {
    char dir[64];
    struct ev_loop *loop;
    struct sl_store *st;
    struct sl_dlq *d;
    sqlite3 *peer;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void open_all(struct fixture *f, struct ev_loop *loop, const char *name)
{
    struct sl_err err = {0};
    if (sl_store_open(loop, f->dir, NULL, &f->st, &err) != 0)
        fail_msg("store: %s", err.msg);
    struct sl_env env = {.loop = loop, .store = f->st};
    assert_int_equal(sl_dlq_sqlite_create(&env, name, &f->d), 0);
    assert_string_equal(f->d->name, name);
    assert_string_equal(f->d->type, "sqlite");
    assert_string_equal(f->d->scope, "dlq:sqlite:dq");
    assert_ptr_equal(f->d->ops, &sl_dlq_sqlite_ops);
    if (f->d->ops->open(f->d, &err) != 0)
        fail_msg("open: %s", err.msg);
}

static void close_all(struct fixture *f)
{
    if (f->d)
        f->d->ops->destroy(f->d);
    f->d = NULL;
    sl_store_close(f->st);
    f->st = NULL;
}

static int setup(void **state)
{
    struct fixture *f = SL_NEW(struct fixture);
    strcpy(f->dir, "/tmp/sl-dlq-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    open_all(f, f->loop, "dq");
    char path[128];
    snprintf(path, sizeof(path), "%s/sluice.db", f->dir);
    assert_int_equal(sqlite3_open(path, &f->peer), SQLITE_OK);
    sqlite3_busy_timeout(f->peer, 5000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close_all(f);
    sqlite3_close(f->peer);
    ev_loop_destroy(f->loop);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void make_entry(struct sl_dlq_entry *e, const char *id, const char *mapping, int64_t created)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->mapping = sl_strdup(mapping);
    e->function = sl_strdup("fn");
    e->source = sl_strdup("orders");
    e->source_type = sl_strdup("http");
    e->condition = sl_strdup(SL_COND_RETRIES_EXHAUSTED);
    char rid[48];
    snprintf(rid, sizeof(rid), "rec-%s", id);
    e->record_id = sl_strdup(rid);
    e->created_ms = created;
    e->first_failure_ms = created - 10;
    e->last_failure_ms = created - 1;
    char body[64];
    snprintf(body, sizeof(body), "{\"entry\":\"%s\"}", id);
    e->payload = sl_strdup(body);
    e->payload_len = strlen(body);
    struct sl_dlq_attempt a = {.time_ms = created - 10,
                               .status = 500,
                               .outcome = "fail",
                               .error = "HTTP 500",
                               .response = "no",
                               .response_len = 2};
    sl_dlq_entry_add_attempt(e, &a);
}

static bool peer_has(struct fixture *f, const char *id)
{
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(f->peer, "SELECT count(*) FROM dlq_entries WHERE id = ?", -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    bool has = sqlite3_column_int(s, 0) == 1;
    sqlite3_finalize(s);
    return has;
}

struct op {
    struct fixture *f;
    const char *id;
    int status;
    int fired;
    bool visible;
};

static void op_done(int status, void *arg)
{
    struct op *o = arg;
    o->status = status;
    o->fired++;
    o->visible = peer_has(o->f, o->id);
}

static void put_one(struct fixture *f, struct sl_dlq *d, const char *id, const char *mapping,
                    int64_t created, int expect)
{
    struct sl_dlq_entry e;
    make_entry(&e, id, mapping, created);
    struct op o = {.f = f, .id = id};
    assert_int_equal(d->ops->put(d, &e, op_done, &o), 0);
    sl_dlq_entry_release(&e); /* put copied what it needs */
    if (f->loop && !o.fired)
        ev_run(f->loop, 0);
    assert_int_equal(o.fired, 1);
    assert_int_equal(o.status, expect);
    if (expect == 0)
        assert_true(o.visible);
}

struct listing {
    char ids[16][40];
    char last_pos[SL_DLQ_POS_MAX];
    size_t n;
    size_t stop_after; /* 0: never */
    char payload[64];
};

static int collect(const struct sl_dlq_entry *e, const char *pos, void *arg)
{
    struct listing *l = arg;
    assert_true(l->n < 16);
    snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", e->id);
    snprintf(l->last_pos, sizeof(l->last_pos), "%s", pos);
    if (l->n == 0)
        snprintf(l->payload, sizeof(l->payload), "%.*s", (int)e->payload_len,
                 (const char *)e->payload);
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static struct listing list(struct sl_dlq *d, const struct sl_dlq_filter *flt)
{
    struct listing l = {0};
    struct sl_err err = {0};
    int rc = d->ops->list(d, flt, collect, &l, &err);
    if (rc != 0)
        fail_msg("list: %s", err.msg);
    return l;
}

static void assert_ids(const struct listing *l, const char *const *ids, size_t n)
{
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l->ids[i], ids[i]);
}

/* Five entries, put out of created order. */
static void fill(struct fixture *f, struct sl_dlq *d)
{
    put_one(f, d, "e3", "m1", T0 + 3000, 0);
    put_one(f, d, "e1", "m1", T0 + 1000, 0);
    put_one(f, d, "e2", "m2", T0 + 2000, 0);
    put_one(f, d, "e5", "m2", T0 + 5000, 0);
    put_one(f, d, "e4", "m1", T0 + 4000, 0);
}

static void test_put_list_filters(void **state)
{
    struct fixture *f = *state;
    struct sl_dlq *d = f->d;
    fill(f, d);

    struct listing l = list(d, NULL);
    assert_ids(&l, (const char *const[]){"e1", "e2", "e3", "e4", "e5"}, 5);
    assert_string_equal(l.payload, "{\"entry\":\"e1\"}");

    l = list(d, &(struct sl_dlq_filter){.mapping = "m1"});
    assert_ids(&l, (const char *const[]){"e1", "e3", "e4"}, 3);
    l = list(d, &(struct sl_dlq_filter){.mapping = "nope"});
    assert_int_equal(l.n, 0);
    l = list(d, &(struct sl_dlq_filter){.since_ms = T0 + 3000});
    assert_ids(&l, (const char *const[]){"e3", "e4", "e5"}, 3);
    l = list(d, &(struct sl_dlq_filter){.mapping = "m2", .since_ms = T0 + 2001});
    assert_ids(&l, (const char *const[]){"e5"}, 1);
    l = list(d, &(struct sl_dlq_filter){.limit = 2});
    assert_ids(&l, (const char *const[]){"e1", "e2"}, 2);
    l = list(d, &(struct sl_dlq_filter){.mapping = "m1", .limit = 2});
    assert_ids(&l, (const char *const[]){"e1", "e3"}, 2);
    l = list(d, &(struct sl_dlq_filter){.id = "e4"});
    assert_ids(&l, (const char *const[]){"e4"}, 1);
    l = list(d, &(struct sl_dlq_filter){.id = "e4", .mapping = "m2"});
    assert_int_equal(l.n, 0);
    l = list(d, &(struct sl_dlq_filter){.id = "e4", .mapping = "m1"});
    assert_int_equal(l.n, 1);
    l = list(d, &(struct sl_dlq_filter){.id = "missing"});
    assert_int_equal(l.n, 0);

    /* The callback stops the listing. */
    struct listing stop = {.stop_after = 2};
    struct sl_err err;
    assert_int_equal(d->ops->list(d, NULL, collect, &stop, &err), 0);
    assert_int_equal(stop.n, 2);

    assert_int_equal(d->ops->depth(d, NULL), 5);
    assert_int_equal(d->ops->depth(d, "m1"), 3);
    assert_int_equal(d->ops->depth(d, "m2"), 2);
    assert_int_equal(d->ops->depth(d, "other"), 0);
}

/* Pages of two, each starting after the last position of the one before, cover every entry
 * once; a removal between pages does not move the cursor. */
static void test_cursor_pages(void **state)
{
    struct fixture *f = *state;
    struct sl_dlq *d = f->d;
    fill(f, d);
    struct listing p1 = list(d, &(struct sl_dlq_filter){.limit = 2});
    assert_ids(&p1, (const char *const[]){"e1", "e2"}, 2);
    struct listing p2 = list(d, &(struct sl_dlq_filter){.limit = 2, .after = p1.last_pos});
    assert_ids(&p2, (const char *const[]){"e3", "e4"}, 2);
    struct op o = {.f = f, .id = "e2"};
    assert_int_equal(d->ops->remove(d, "e2", op_done, &o), 0);
    ev_run(f->loop, 0);
    assert_int_equal(o.fired, 1);
    assert_int_equal(o.status, 0);
    struct listing again = list(d, &(struct sl_dlq_filter){.limit = 2, .after = p1.last_pos});
    assert_ids(&again, (const char *const[]){"e3", "e4"}, 2);
    struct listing p3 = list(d, &(struct sl_dlq_filter){.limit = 2, .after = p2.last_pos});
    assert_ids(&p3, (const char *const[]){"e5"}, 1);
    struct listing end = list(d, &(struct sl_dlq_filter){.after = p3.last_pos});
    assert_int_equal(end.n, 0);
    /* With a mapping filter too. */
    struct listing m1 = list(d, &(struct sl_dlq_filter){.mapping = "m1", .limit = 1});
    assert_ids(&m1, (const char *const[]){"e1"}, 1);
    m1 = list(d, &(struct sl_dlq_filter){.mapping = "m1", .after = m1.last_pos});
    assert_ids(&m1, (const char *const[]){"e3", "e4"}, 2);
    /* What is not a position of this sink is refused. */
    struct sl_err err;
    struct listing bad = {0};
    assert_int_equal(d->ops->list(d, &(struct sl_dlq_filter){.after = "12"}, collect, &bad, &err),
                     -EINVAL);
    assert_int_equal(d->ops->list(d, &(struct sl_dlq_filter){.after = "1.x"}, collect, &bad, &err),
                     -EINVAL);
}

static void test_duplicate_and_invalid_put(void **state)
{
    struct fixture *f = *state;
    struct sl_dlq *d = f->d;
    put_one(f, d, "dup", "m", T0, 0);
    put_one(f, d, "dup", "m", T0 + 1, -EEXIST);
    assert_int_equal(d->ops->depth(d, NULL), 1);

    /* Entries that could not be read back are refused; the callback never fires. */
    struct sl_dlq_entry e;
    struct op o = {.f = f, .id = "x"};
    make_entry(&e, "x", "m", T0);
    free(e.mapping);
    e.mapping = NULL;
    assert_int_equal(d->ops->put(d, &e, op_done, &o), -EINVAL);
    e.mapping = sl_strdup("m");
    e.created_ms = 0;
    assert_int_equal(d->ops->put(d, &e, op_done, &o), -EINVAL);
    e.created_ms = T0;
    e.id[0] = '\0';
    assert_int_equal(d->ops->put(d, &e, op_done, &o), -EINVAL);
    ev_run(f->loop, 0);
    assert_int_equal(o.fired, 0);
    sl_dlq_entry_release(&e);

    /* A sink that is not open refuses everything. */
    struct sl_dlq *closed;
    assert_int_equal(sl_dlq_sqlite_create(NULL, "closed", &closed), 0);
    make_entry(&e, "y", "m", T0);
    assert_int_equal(closed->ops->put(closed, &e, op_done, &o), SL_ECLOSED);
    assert_int_equal(closed->ops->remove(closed, "y", op_done, &o), SL_ECLOSED);
    assert_int_equal(closed->ops->depth(closed, NULL), -1);
    struct sl_err err;
    assert_int_equal(closed->ops->list(closed, NULL, collect, &(struct listing){0}, &err),
                     SL_ECLOSED);
    assert_int_equal(o.fired, 0);
    closed->ops->destroy(closed);
    sl_dlq_entry_release(&e);
    assert_int_equal(sl_dlq_sqlite_create(NULL, "", &closed), -EINVAL);
}

static void test_remove(void **state)
{
    struct fixture *f = *state;
    struct sl_dlq *d = f->d;
    fill(f, d);

    struct op o = {.f = f, .id = "e2"};
    assert_int_equal(d->ops->remove(d, "e2", op_done, &o), 0);
    ev_run(f->loop, 0);
    assert_int_equal(o.fired, 1);
    assert_int_equal(o.status, 0);
    assert_false(o.visible); /* gone once the callback fires */
    assert_int_equal(d->ops->depth(d, NULL), 4);
    assert_int_equal(d->ops->depth(d, "m2"), 1);

    struct op again = {.f = f, .id = "e2"};
    assert_int_equal(d->ops->remove(d, "e2", op_done, &again), 0);
    ev_run(f->loop, 0);
    assert_int_equal(again.fired, 1);
    assert_int_equal(again.status, SL_ENOTFOUND);
    assert_int_equal(d->ops->remove(d, "", op_done, &again), -EINVAL);
    assert_int_equal(d->ops->remove(d, NULL, op_done, &again), -EINVAL);
    assert_int_equal(again.fired, 1);

    struct listing l = list(d, NULL);
    assert_ids(&l, (const char *const[]){"e1", "e3", "e4", "e5"}, 4);
}

/* Puts submitted together share group commits and complete in order. */
struct order {
    int seen[50];
    int n;
};

struct order_op {
    struct order *o;
    int i;
};

static void order_done(int status, void *arg)
{
    struct order_op *op = arg;
    assert_int_equal(status, 0);
    op->o->seen[op->o->n++] = op->i;
}

static void test_many_puts_group_commit(void **state)
{
    struct fixture *f = *state;
    struct sl_dlq *d = f->d;
    struct order o = {0};
    struct order_op ops[50];
    uint64_t commits0 = sl_store_commits(f->st);
    for (int i = 0; i < 50; i++) {
        struct sl_dlq_entry e;
        char id[16];
        snprintf(id, sizeof(id), "g%02d", i);
        make_entry(&e, id, "m", T0 + i);
        ops[i] = (struct order_op){.o = &o, .i = i};
        assert_int_equal(d->ops->put(d, &e, order_done, &ops[i]), 0);
        sl_dlq_entry_release(&e);
    }
    ev_run(f->loop, 0);
    assert_int_equal(o.n, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(o.seen[i], i);
    assert_true(sl_store_commits(f->st) - commits0 < 50);
    assert_int_equal(d->ops->depth(d, NULL), 50);
}

static void test_describe(void **state)
{
    struct fixture *f = *state;
    struct sl_dlq *d = f->d;
    put_one(f, d, "a1", "m", T0, 0);
    put_one(f, d, "a2", "m", T0, 0);
    struct sl_buf b;
    sl_buf_init(&b);
    struct sl_jw w;
    sl_jw_init(&w, &b);
    d->ops->describe(d, &w);
    json_t *j = json_loads(b.data, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "sqlite");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "dq");
    assert_int_equal(json_integer_value(json_object_get(j, "entries")), 2);
    json_decref(j);
    sl_buf_release(&b);
}

static void test_named_sinks_isolated(void **state)
{
    struct fixture *f = *state;
    struct sl_dlq *other;
    struct sl_err err;
    struct sl_env env = {.loop = f->loop, .store = f->st};
    assert_int_equal(sl_dlq_sqlite_create(&env, "other", &other), 0);
    assert_int_equal(other->ops->open(other, &err), 0);
    put_one(f, f->d, "mine", "m", T0, 0);
    put_one(f, other, "theirs", "m", T0, 0);
    put_one(f, other, "theirs2", "m", T0 + 1, 0);

    struct listing l = list(f->d, NULL);
    assert_ids(&l, (const char *const[]){"mine"}, 1);
    l = list(other, NULL);
    assert_ids(&l, (const char *const[]){"theirs", "theirs2"}, 2);
    l = list(f->d, &(struct sl_dlq_filter){.id = "theirs"});
    assert_int_equal(l.n, 0);
    assert_int_equal(f->d->ops->depth(f->d, "m"), 1);
    assert_int_equal(other->ops->depth(other, "m"), 2);

    struct op o = {.f = f, .id = "theirs"};
    assert_int_equal(f->d->ops->remove(f->d, "theirs", op_done, &o), 0);
    ev_run(f->loop, 0);
    assert_int_equal(o.status, SL_ENOTFOUND);
    assert_true(o.visible);
    other->ops->destroy(other);
}

static void test_survives_reopen(void **state)
{
    struct fixture *f = *state;
    fill(f, f->d);
    /* Queued puts are committed by close even without running the loop. */
    struct sl_dlq_entry e;
    make_entry(&e, "late", "m3", T0 + 9000);
    struct op o = {.f = f, .id = "late"};
    assert_int_equal(f->d->ops->put(f->d, &e, op_done, &o), 0);
    sl_dlq_entry_release(&e);
    close_all(f);
    assert_int_equal(o.fired, 1);
    assert_int_equal(o.status, 0);

    /* Reopened synchronously (as the CLI does). */
    open_all(f, NULL, "dq");
    struct listing l = list(f->d, NULL);
    assert_ids(&l, (const char *const[]){"e1", "e2", "e3", "e4", "e5", "late"}, 6);
    assert_int_equal(f->d->ops->depth(f->d, NULL), 6);

    /* In synchronous mode the callbacks fire before put/remove return. */
    struct op r = {.f = f, .id = "e1"};
    assert_int_equal(f->d->ops->remove(f->d, "e1", op_done, &r), 0);
    assert_int_equal(r.fired, 1);
    assert_int_equal(r.status, 0);
    assert_false(r.visible);
    struct ev_loop *saved = f->loop;
    f->loop = NULL;
    put_one(f, f->d, "sync1", "m", T0 + 10000, 0);
    f->loop = saved;
    assert_int_equal(f->d->ops->depth(f->d, NULL), 6);
}

static void test_unreadable_row_skipped(void **state)
{
    struct fixture *f = *state;
    put_one(f, f->d, "good1", "m", T0, 0);
    assert_int_equal(sqlite3_exec(f->peer,
                                  "INSERT INTO dlq_entries(id, mapping, dlq, created_ms, doc) "
                                  "VALUES('bad', 'm', 'dq', 1767323045679, '{not json')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    put_one(f, f->d, "good2", "m", T0 + 5, 0);
    struct listing l = list(f->d, NULL);
    assert_ids(&l, (const char *const[]){"good1", "good2"}, 2);
    assert_int_equal(f->d->ops->depth(f->d, NULL), 3);
}

/* An id filter matches an entry's id or its record's id, in this sink only. */
static void test_list_by_record_id(void **state)
{
    struct fixture *f = *state;
    fill(f, f->d);
    struct sl_dlq_filter flt = {.id = "rec-e2"};
    struct listing l = list(f->d, &flt);
    assert_ids(&l, (const char *const[]){"e2"}, 1);
    flt.id = "e2";
    l = list(f->d, &flt);
    assert_ids(&l, (const char *const[]){"e2"}, 1);
    flt.mapping = "m1";
    l = list(f->d, &flt);
    assert_ids(&l, NULL, 0);
    flt = (struct sl_dlq_filter){.id = "rec-nope"};
    l = list(f->d, &flt);
    assert_ids(&l, NULL, 0);
    /* A row whose document is not JSON is stored all the same, and found by its id. */
    assert_int_equal(sqlite3_exec(f->peer,
                                  "INSERT INTO dlq_entries(id, mapping, dlq, created_ms, doc) "
                                  "VALUES('rec-e2', 'm', 'other', 1, '{not json')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    flt.id = "rec-e2";
    l = list(f->d, &flt);
    assert_ids(&l, (const char *const[]){"e2"}, 1);
}

/* A list callback that lists again is refused rather than corrupting the running statement. */
static int nested_list(const struct sl_dlq_entry *e, const char *pos, void *arg)
{
    struct sl_dlq *d = arg;
    struct sl_err err;
    assert_int_equal(d->ops->list(d, NULL, collect, &(struct listing){0}, &err), -EBUSY);
    return 0;
}

static void test_nested_list_refused(void **state)
{
    struct fixture *f = *state;
    put_one(f, f->d, "n1", "m", T0, 0);
    struct sl_err err;
    assert_int_equal(f->d->ops->list(f->d, NULL, nested_list, f->d, &err), 0);
    struct listing l = list(f->d, NULL);
    assert_int_equal(l.n, 1);
}

static void test_registry_and_create(void **state)
{
    struct fixture *f = *state;
    assert_ptr_equal(sl_dlq_find_type("sqlite"), &sl_dlq_sqlite_ops);
    assert_null(sl_dlq_find_type("kafka-nope"));
    assert_null(sl_dlq_find_type(NULL));
    assert_ptr_equal(sl_dlq_types[0], &sl_dlq_sqlite_ops);
    for (size_t i = 0; sl_dlq_types[i]; i++)
        assert_ptr_equal(sl_dlq_find_type(sl_dlq_types[i]->type), sl_dlq_types[i]);
    assert_non_null(sl_dlq_sqlite_ops.props);
    assert_int_equal(sl_dlq_sqlite_ops.props->nprops, 0);

    struct sl_cfg_typed sec = {.name = "fromcfg", .type = "sqlite", .path = "dlqs[0]"};
    sec.raw = json_pack("{s:s, s:s}", "name", "fromcfg", "type", "sqlite");
    struct sl_dlq *d = NULL;
    struct sl_err err = {0};
    struct sl_env env = {.loop = f->loop, .store = f->st};
    int rc = sl_dlq_sqlite_ops.create(&env, &sec, &d, &err);
    if (rc != 0)
        fail_msg("create: %s", err.msg);
    assert_string_equal(d->name, "fromcfg");
    assert_int_equal(d->ops->open(d, &err), 0);
    put_one(f, d, "c1", "m", T0, 0);
    assert_int_equal(d->ops->depth(d, NULL), 1);
    d->ops->destroy(d);
    json_decref(sec.raw);

    /* An unknown key is a config error naming the key path. */
    sec.raw = json_pack("{s:s, s:s, s:i}", "name", "fromcfg", "type", "sqlite", "bogus", 1);
    d = NULL;
    assert_int_equal(sl_dlq_sqlite_ops.create(&env, &sec, &d, &err), SL_ECONFIG);
    assert_null(d);
    assert_non_null(strstr(err.msg, "bogus"));
    json_decref(sec.raw);
    sl_dlq_sqlite_ops.destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_list_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_by_record_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_and_invalid_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_puts_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_sinks_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_row_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_list_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_and_create, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
