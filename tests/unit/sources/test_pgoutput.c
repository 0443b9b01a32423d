/* The pgoutput decoder with hand-built messages (formats:
 * https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html): every message
 * kind protocol version 1 sends, the copy-data frames around them, the standby status update,
 * and malformed input: every truncation of a valid message is refused, never read past. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sources/postgres/pgoutput.h"

struct mb {
    uint8_t b[4096];
    size_t n;
};

static void put8(struct mb *m, uint8_t v)
{
    m->b[m->n++] = v;
}
static void put16(struct mb *m, uint16_t v)
{
    put8(m, (uint8_t)(v >> 8));
    put8(m, (uint8_t)v);
}
static void put32(struct mb *m, uint32_t v)
{
    put16(m, (uint16_t)(v >> 16));
    put16(m, (uint16_t)v);
}
static void put64(struct mb *m, uint64_t v)
{
    put32(m, (uint32_t)(v >> 32));
    put32(m, (uint32_t)v);
}
static void putstr(struct mb *m, const char *s)
{
    size_t l = strlen(s) + 1;
    memcpy(m->b + m->n, s, l);
    m->n += l;
}
static void puttext(struct mb *m, const char *s)
{
    put8(m, 't');
    put32(m, (uint32_t)strlen(s));
    memcpy(m->b + m->n, s, strlen(s));
    m->n += strlen(s);
}

static struct sl_pgo_msg *msg_new(void)
{
    return calloc(1, sizeof(struct sl_pgo_msg));
}

/* Every strict prefix of a valid message is refused. */
static void assert_prefixes_refused(const struct mb *m, struct sl_pgo_msg *out)
{
    for (size_t n = 0; n < m->n; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any read past it */
        memcpy(copy, m->b, n);
        assert_int_not_equal(sl_pgo_decode(copy, n, out), 0);
        free(copy);
    }
}

static void test_begin_commit_origin(void **state)
{
    (void)state;
    struct sl_pgo_msg *m = msg_new();
    struct mb b = {0};
    put8(&b, 'B');
    put64(&b, 0x16B3748ull);
    put64(&b, 1000000);
    put32(&b, 735);
    assert_int_equal(sl_pgo_decode(b.b, b.n, m), 0);
    assert_int_equal(m->kind, 'B');
    assert_true(m->lsn == 0x16B3748ull && m->time_us == 1000000 && m->xid == 735);
    assert_prefixes_refused(&b, m);

    struct mb c = {0};
    put8(&c, 'C');
    put8(&c, 0);
    put64(&c, 0x16B3748ull);
    put64(&c, 0x16B3780ull);
    put64(&c, 2000000);
    assert_int_equal(sl_pgo_decode(c.b, c.n, m), 0);
    assert_true(m->kind == 'C' && m->lsn == 0x16B3748ull && m->end_lsn == 0x16B3780ull &&
                m->time_us == 2000000);
    assert_prefixes_refused(&c, m);

    struct mb o = {0};
    put8(&o, 'O');
    put64(&o, 42);
    putstr(&o, "node_a");
    assert_int_equal(sl_pgo_decode(o.b, o.n, m), 0);
    assert_int_equal(m->name_len, 6);
    assert_memory_equal(m->name, "node_a", 6);
    free(m);
}

static void build_relation(struct mb *b, char ident)
{
    put8(b, 'R');
    put32(b, 16384);
    putstr(b, "public");
    putstr(b, "orders");
    put8(b, (uint8_t)ident);
    put16(b, 3);
    put8(b, 1);
    putstr(b, "id");
    put32(b, 23);
    put32(b, (uint32_t)-1);
    put8(b, 0);
    putstr(b, "note");
    put32(b, 25);
    put32(b, (uint32_t)-1);
    put8(b, 0);
    putstr(b, "doc");
    put32(b, 3802);
    put32(b, (uint32_t)-1);
}

static void test_relation_and_type(void **state)
{
    (void)state;
    struct sl_pgo_msg *m = msg_new();
    struct mb b = {0};
    build_relation(&b, 'd');
    assert_int_equal(sl_pgo_decode(b.b, b.n, m), 0);
    assert_int_equal(m->relid, 16384);
    assert_int_equal(m->replident, 'd');
    assert_int_equal(m->ncols, 3);
    assert_memory_equal(m->nspname, "public", 6);
    assert_memory_equal(m->name, "orders", 6);
    assert_true(m->cols[0].key && !m->cols[1].key && !m->cols[2].key);
    assert_int_equal(m->cols[0].type_oid, 23);
    assert_int_equal(m->cols[2].type_oid, 3802);
    assert_int_equal(m->cols[1].typmod, -1);
    assert_memory_equal(m->cols[1].name, "note", 4);
    assert_prefixes_refused(&b, m);
    /* An unknown replica identity is refused. */
    struct mb bad = {0};
    build_relation(&bad, 'x');
    assert_int_equal(sl_pgo_decode(bad.b, bad.n, m), -EINVAL);
    assert_non_null(m->error);

    struct mb y = {0};
    put8(&y, 'Y');
    put32(&y, 99999);
    putstr(&y, "public");
    putstr(&y, "mood");
    assert_int_equal(sl_pgo_decode(y.b, y.n, m), 0);
    assert_true(m->kind == 'Y' && m->relid == 99999 && m->name_len == 4);
    free(m);
}

static void test_insert_update_delete_tuples(void **state)
{
    (void)state;
    struct sl_pgo_msg *m = msg_new();
    struct mb i = {0};
    put8(&i, 'I');
    put32(&i, 16384);
    put8(&i, 'N');
    put16(&i, 3);
    puttext(&i, "1");
    put8(&i, 'n');
    puttext(&i, "{\"a\": 1}");
    assert_int_equal(sl_pgo_decode(i.b, i.n, m), 0);
    assert_int_equal(m->kind, 'I');
    assert_int_equal(m->newtup.n, 3);
    assert_int_equal(m->newtup.v[0].kind, 't');
    assert_int_equal(m->newtup.v[0].len, 1);
    assert_memory_equal(m->newtup.v[0].data, "1", 1);
    assert_int_equal(m->newtup.v[1].kind, 'n');
    assert_int_equal(m->newtup.v[2].len, 8);
    assert_int_equal(m->old_kind, 0);
    assert_prefixes_refused(&i, m);

    /* Update with the whole old row (REPLICA IDENTITY FULL) and an unchanged TOAST value. */
    struct mb u = {0};
    put8(&u, 'U');
    put32(&u, 16384);
    put8(&u, 'O');
    put16(&u, 2);
    puttext(&u, "1");
    puttext(&u, "old");
    put8(&u, 'N');
    put16(&u, 2);
    puttext(&u, "1");
    put8(&u, 'u');
    assert_int_equal(sl_pgo_decode(u.b, u.n, m), 0);
    assert_int_equal(m->old_kind, 'O');
    assert_int_equal(m->oldtup.n, 2);
    assert_memory_equal(m->oldtup.v[1].data, "old", 3);
    assert_int_equal(m->newtup.v[1].kind, 'u');
    assert_prefixes_refused(&u, m);

    /* Update without an old tuple. */
    struct mb u2 = {0};
    put8(&u2, 'U');
    put32(&u2, 16384);
    put8(&u2, 'N');
    put16(&u2, 1);
    puttext(&u2, "7");
    assert_int_equal(sl_pgo_decode(u2.b, u2.n, m), 0);
    assert_int_equal(m->old_kind, 0);
    assert_int_equal(m->newtup.n, 1);

    struct mb d = {0};
    put8(&d, 'D');
    put32(&d, 16384);
    put8(&d, 'K');
    put16(&d, 1);
    puttext(&d, "1");
    assert_int_equal(sl_pgo_decode(d.b, d.n, m), 0);
    assert_int_equal(m->old_kind, 'K');
    assert_int_equal(m->oldtup.n, 1);
    assert_prefixes_refused(&d, m);

    /* A delete needs its old tuple; a value length past the end is refused. */
    struct mb d2 = {0};
    put8(&d2, 'D');
    put32(&d2, 16384);
    put8(&d2, 'N');
    put16(&d2, 0);
    assert_int_equal(sl_pgo_decode(d2.b, d2.n, m), -EINVAL);
    struct mb big = {0};
    put8(&big, 'I');
    put32(&big, 1);
    put8(&big, 'N');
    put16(&big, 1);
    put8(&big, 't');
    put32(&big, 0xFFFFFFF0u);
    assert_int_equal(sl_pgo_decode(big.b, big.n, m), -EINVAL);
    /* An unknown value kind. */
    struct mb k = {0};
    put8(&k, 'I');
    put32(&k, 1);
    put8(&k, 'N');
    put16(&k, 1);
    put8(&k, 'z');
    assert_int_equal(sl_pgo_decode(k.b, k.n, m), -EINVAL);
    /* More columns than PostgreSQL allows. */
    struct mb many = {0};
    put8(&many, 'I');
    put32(&many, 1);
    put8(&many, 'N');
    put16(&many, SL_PGO_MAX_COLS + 1);
    assert_int_equal(sl_pgo_decode(many.b, many.n, m), -EINVAL);
    free(m);
}

static void test_truncate_and_unknown(void **state)
{
    (void)state;
    struct sl_pgo_msg *m = msg_new();
    struct mb t = {0};
    put8(&t, 'T');
    put32(&t, 2);
    put8(&t, 1);
    put32(&t, 10);
    put32(&t, 11);
    assert_int_equal(sl_pgo_decode(t.b, t.n, m), 0);
    assert_true(m->nrels == 2 && m->relids[0] == 10 && m->relids[1] == 11);
    assert_int_equal(m->trunc_flags, 1);
    assert_prefixes_refused(&t, m);
    struct mb lie = {0}; /* claims more relations than it carries */
    put8(&lie, 'T');
    put32(&lie, 1000000);
    put8(&lie, 0);
    put32(&lie, 10);
    assert_int_equal(sl_pgo_decode(lie.b, lie.n, m), -EINVAL);
    uint8_t s = 'S'; /* stream start: protocol version 2 only */
    assert_int_equal(sl_pgo_decode(&s, 1, m), -ENOTSUP);
    assert_int_equal(sl_pgo_decode(&s, 0, m), -EINVAL);
    free(m);
}

static void test_frames_and_status(void **state)
{
    (void)state;
    struct sl_pgo_frame f;
    struct mb w = {0};
    put8(&w, 'w');
    put64(&w, 100);
    put64(&w, 200);
    put64(&w, 300);
    put8(&w, 'B');
    assert_int_equal(sl_pgo_frame_parse(w.b, w.n, &f), 0);
    assert_true(f.kind == 'w' && f.wal_start == 100 && f.wal_end == 200 && f.send_time_us == 300);
    assert_int_equal(f.len, 1);
    assert_int_equal(f.data[0], 'B');
    for (size_t n = 0; n < 25; n++)
        assert_int_not_equal(sl_pgo_frame_parse(w.b, n, &f), 0);

    struct mb k = {0};
    put8(&k, 'k');
    put64(&k, 0x5000);
    put64(&k, 7);
    put8(&k, 1);
    assert_int_equal(sl_pgo_frame_parse(k.b, k.n, &f), 0);
    assert_true(f.kind == 'k' && f.wal_end == 0x5000 && f.reply);
    for (size_t n = 0; n < k.n; n++)
        assert_int_not_equal(sl_pgo_frame_parse(k.b, n, &f), 0);
    uint8_t other[] = {'x', 0, 0};
    assert_int_equal(sl_pgo_frame_parse(other, sizeof(other), &f), -EINVAL);

    uint8_t st[SL_PGO_STATUS_LEN];
    assert_int_equal(
        sl_pgo_status(st, 0x0102030405060708ull, 0x10, 0x20, SL_PGO_EPOCH_US + 0x99, true),
        SL_PGO_STATUS_LEN);
    const uint8_t want[SL_PGO_STATUS_LEN] = {'r',  1, 2, 3, 4,    5, 6, 7, 8,    0, 0, 0,
                                             0,    0, 0, 0, 0x10, 0, 0, 0, 0,    0, 0, 0,
                                             0x20, 0, 0, 0, 0,    0, 0, 0, 0x99, 1};
    assert_memory_equal(st, want, SL_PGO_STATUS_LEN);
}

static void test_lsn_text(void **state)
{
    (void)state;
    char out[18];
    sl_pgo_lsn_fmt(0x16B374D848ull, out);
    assert_string_equal(out, "16/B374D848");
    sl_pgo_lsn_fmt(0, out);
    assert_string_equal(out, "0/0");
    sl_pgo_lsn_fmt(UINT64_MAX, out);
    assert_string_equal(out, "FFFFFFFF/FFFFFFFF");
    uint64_t l;
    assert_int_equal(sl_pgo_lsn_parse("16/B374D848", &l), 0);
    assert_true(l == 0x16B374D848ull);
    assert_int_equal(sl_pgo_lsn_parse("0/0", &l), 0);
    assert_true(l == 0);
    assert_int_not_equal(sl_pgo_lsn_parse("16", &l), 0);
    assert_int_not_equal(sl_pgo_lsn_parse("16/xyz", &l), 0);
    assert_int_not_equal(sl_pgo_lsn_parse("1/2 ", &l), 0);
    assert_int_not_equal(sl_pgo_lsn_parse(NULL, &l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_begin_commit_origin),
        cmocka_unit_test(test_relation_and_type),
        cmocka_unit_test(test_insert_update_delete_tuples),
        cmocka_unit_test(test_truncate_and_unknown),
        cmocka_unit_test(test_frames_and_status),
        cmocka_unit_test(test_lsn_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
