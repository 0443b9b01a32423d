/* The postgres-cdc source's pure parts: a row change rendered as the DynamoDB Streams
 * `dynamodb` object (typed values, images by replica identity), the event encoder (also from
 * the text record redrive rebuilds), partial batch response matching, the filter view, the
 * advisory lock key, `sluice init`'s SQL, and config checks with key paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "sources/postgres/cdc_int.h"
#include "sources/record.h"

static json_t *parse(const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %.*s", e.text, (int)n, s);
    return j;
}

/* Value -> its attribute value as compact JSON text (keys sorted). */
static char *value_text(uint32_t oid, char kind, const char *data)
{
    struct sl_buf out, scratch;
    sl_buf_init(&out);
    sl_buf_init(&scratch);
    struct sl_pgo_value v = {.kind = kind, .data = data, .len = data ? (uint32_t)strlen(data) : 0};
    sl_pgcdc_value(oid, &v, &scratch, &out);
    json_t *j = parse(out.data, out.len);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    sl_buf_release(&out);
    sl_buf_release(&scratch);
    return s;
}

static void assert_value(uint32_t oid, char kind, const char *data, const char *want)
{
    char *got = value_text(oid, kind, data);
    if (strcmp(got, want) != 0)
        fail_msg("oid %u %s: got %s, want %s", oid, data ? data : "(null)", got, want);
    free(got);
}

static void test_typed_values(void **state)
{
    (void)state;
    assert_value(23, 't', "42", "{\"N\":\"42\"}");
    assert_value(20, 't', "-9007199254740993", "{\"N\":\"-9007199254740993\"}");
    assert_value(1700, 't', "12.50", "{\"N\":\"12.50\"}");
    assert_value(1700, 't', "NaN", "{\"S\":\"NaN\"}");
    assert_value(701, 't', "Infinity", "{\"S\":\"Infinity\"}");
    assert_value(701, 't', "1.5e+300", "{\"N\":\"1.5e+300\"}");
    assert_value(16, 't', "t", "{\"BOOL\":true}");
    assert_value(16, 't', "f", "{\"BOOL\":false}");
    assert_value(25, 't', "a \"b\"\n\xc3\xa9", "{\"S\":\"a \\\"b\\\"\\n\xc3\xa9\"}");
    assert_value(25, 'n', NULL, "{\"NULL\":true}");
    assert_value(17, 't', "\\x00ff41", "{\"B\":\"AP9B\"}");
    assert_value(17, 't', "\\x", "{\"B\":\"\"}");
    assert_value(17, 't', "\\xzz", "{\"S\":\"\\\\xzz\"}"); /* not hex: kept as text */
    assert_value(
        3802, 't', "{\"a\": [1, \"x\", null, true, {}], \"b\": {\"c\": -2.5e3}}",
        "{\"M\":{\"a\":{\"L\":[{\"N\":\"1\"},{\"S\":\"x\"},{\"NULL\":true},{\"BOOL\":true},"
        "{\"M\":{}}]},\"b\":{\"M\":{\"c\":{\"N\":\"-2.5e3\"}}}}}");
    assert_value(114, 't', " [ ] ", "{\"L\":[]}");
    assert_value(114, 't', "\"s\\u0041\"", "{\"S\":\"sA\"}");
    assert_value(114, 't', "7", "{\"N\":\"7\"}");
    /* Not JSON (or trailing garbage): the text, as S. */
    assert_value(114, 't', "{\"a\": }", "{\"S\":\"{\\\"a\\\": }\"}");
    assert_value(114, 't', "[1] x", "{\"S\":\"[1] x\"}");
    assert_value(114, 't', "[1,]", "{\"S\":\"[1,]\"}");
    assert_value(114, 't', "tru", "{\"S\":\"tru\"}");
    /* Escapes: copied as they are when JSON allows them, else the text as S. */
    assert_value(114, 't', "\"\\ud83d\\ude00 \\n\"", "{\"S\":\"\xf0\x9f\x98\x80 \\n\"}");
    assert_value(114, 't', "\"\\uZZZZ\"", "{\"S\":\"\\\"\\\\uZZZZ\\\"\"}");
    assert_value(114, 't', "\"\\ud800\"", "{\"S\":\"\\\"\\\\ud800\\\"\"}");
    assert_value(114, 't', "\"\\q\"", "{\"S\":\"\\\"\\\\q\\\"\"}");
    assert_value(114, 't', "[\"\xff\"]", "{\"S\":\"[\\\"\xef\xbf\xbd\\\"]\"}");
    /* Deeper than 64: S, never a deep recursion. */
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 199);
    deep[399] = '\0';
    char *got = value_text(3802, 't', deep);
    assert_non_null(strstr(got, "{\"S\":"));
    free(got);
}

/* A relation as a Relation message would give it: id int (key), note text, doc jsonb. */
static struct sl_pgcdc_shared SH = {
    .slot = "s1", .region_json = "\"eu-west-1\"", .pub_json = "\"p\"", .slot_json = "\"s1\""};

static void rel_make(struct sl_pgcdc_rel *rel, char ident)
{
    struct sl_pgo_msg *m = calloc(1, sizeof(*m));
    m->kind = 'R';
    m->relid = 16384;
    m->nspname = "public";
    m->nspname_len = 6;
    m->name = "orders";
    m->name_len = 6;
    m->replident = ident;
    m->ncols = 3;
    m->cols = m->relcols;
    m->relcols[0] =
        (struct sl_pgo_relcol){.key = true, .name = "id", .name_len = 2, .type_oid = 23};
    m->relcols[1] = (struct sl_pgo_relcol){.name = "note", .name_len = 4, .type_oid = 25};
    m->relcols[2] = (struct sl_pgo_relcol){.name = "doc", .name_len = 3, .type_oid = 3802};
    sl_pgcdc_rel_init(rel, &SH, m, "127.0.0.1:5432/app");
    free(m);
}

static void tuple_set(struct sl_pgo_tuple *t, struct sl_pgo_value *store, const char *id,
                      const char *note, const char *doc)
{
    t->v = store;
    t->n = 3;
    const char *vals[3] = {id, note, doc};
    for (int i = 0; i < 3; i++) {
        store[i].kind = vals[i] ? 't' : 'n';
        if (vals[i] && strcmp(vals[i], "<toast>") == 0)
            store[i].kind = 'u';
        store[i].data = vals[i];
        store[i].len = vals[i] ? (uint32_t)strlen(vals[i]) : 0;
    }
}

static json_t *render(const struct sl_pgcdc_rel *rel, struct sl_pgo_msg *m, int *event)
{
    struct sl_buf out, scratch;
    sl_buf_init(&out);
    sl_buf_init(&scratch);
    *event = (int)sl_pgcdc_render(rel, m, 777, 1700000000, &scratch, &out);
    json_t *j = parse(out.data, out.len);
    sl_buf_release(&out);
    sl_buf_release(&scratch);
    return j;
}

static const char *dumps(json_t *j)
{
    static char buf[2048];
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(buf, sizeof(buf), "%s", s ? s : "(absent)");
    free(s);
    return buf;
}

static void test_render_images_by_identity(void **state)
{
    (void)state;
    struct sl_pgcdc_rel def, full;
    rel_make(&def, 'd');
    rel_make(&full, 'f');
    assert_string_equal(def.arn_json, "\"postgres://127.0.0.1:5432/app/public.orders/stream/s1\"");
    assert_string_equal(def.table, "public.orders");
    struct sl_pgo_msg *m = calloc(1, sizeof(*m));
    int ev;

    m->kind = 'I';
    tuple_set(&m->newtup, m->newv, "1", "hi", "{\"a\":1}");
    json_t *d = render(&def, m, &ev);
    assert_int_equal(ev, SL_PGCDC_INSERT);
    assert_string_equal(dumps(d), "{\"ApproximateCreationDateTime\":1700000000,\"Keys\":{\"id\":{"
                                  "\"N\":\"1\"}},\"NewImage\":{\"doc\":{\"M\":{\"a\":{\"N\":\"1\"}}"
                                  "},\"id\":{\"N\":\"1\"},\"note\":{\"S\":\"hi\"}},"
                                  "\"SequenceNumber\":\"777\",\"SizeBytes\":90,"
                                  "\"StreamViewType\":\"NEW_IMAGE\"}");
    json_decref(d);

    /* DEFAULT: an update has the new image only; an unchanged TOASTed value is left out. */
    m->kind = 'U';
    m->old_kind = 0;
    tuple_set(&m->newtup, m->newv, "1", "<toast>", NULL);
    d = render(&def, m, &ev);
    assert_int_equal(ev, SL_PGCDC_MODIFY);
    assert_string_equal(dumps(json_object_get(d, "NewImage")),
                        "{\"doc\":{\"NULL\":true},\"id\":{\"N\":\"1\"}}");
    assert_null(json_object_get(d, "OldImage"));
    json_decref(d);

    /* FULL: both images; an unchanged TOASTed value comes from the old row. */
    m->old_kind = 'O';
    tuple_set(&m->oldtup, m->oldv, "1", "old", "[1]");
    tuple_set(&m->newtup, m->newv, "1", "new", "<toast>");
    d = render(&full, m, &ev);
    assert_string_equal(
        dumps(json_object_get(d, "OldImage")),
        "{\"doc\":{\"L\":[{\"N\":\"1\"}]},\"id\":{\"N\":\"1\"},\"note\":{\"S\":\"old\"}}");
    assert_string_equal(
        dumps(json_object_get(d, "NewImage")),
        "{\"doc\":{\"L\":[{\"N\":\"1\"}]},\"id\":{\"N\":\"1\"},\"note\":{\"S\":\"new\"}}");
    assert_string_equal(json_string_value(json_object_get(d, "StreamViewType")),
                        "NEW_AND_OLD_IMAGES");
    json_decref(d);

    /* Deletes: keys from the old key tuple; FULL adds the old image. */
    m->kind = 'D';
    m->old_kind = 'K';
    tuple_set(&m->oldtup, m->oldv, "9", NULL, NULL);
    d = render(&def, m, &ev);
    assert_int_equal(ev, SL_PGCDC_REMOVE);
    assert_string_equal(dumps(json_object_get(d, "Keys")), "{\"id\":{\"N\":\"9\"}}");
    assert_null(json_object_get(d, "NewImage"));
    assert_null(json_object_get(d, "OldImage"));
    json_decref(d);
    m->old_kind = 'O';
    tuple_set(&m->oldtup, m->oldv, "9", "bye", NULL);
    d = render(&full, m, &ev);
    assert_string_equal(dumps(json_object_get(d, "OldImage")),
                        "{\"doc\":{\"NULL\":true},\"id\":{\"N\":\"9\"},\"note\":{\"S\":\"bye\"}}");
    assert_null(json_object_get(d, "NewImage"));
    json_decref(d);
    free(m);
    sl_pgcdc_rel_release(&def);
    sl_pgcdc_rel_release(&full);
}

/* A typed record of one insert, in a transaction of its own. */
static struct sl_pgcdc_record *typed_record(struct sl_pgcdc_pool *pool, struct sl_pgcdc_rel *rel,
                                            uint64_t seqno)
{
    struct sl_pgcdc_txn *t = sl_pgcdc_txn_take(pool);
    t->commit_ms = 1700000000123;
    t->commit_lsn = 0x1000;
    t->xid = 99;
    struct sl_pgcdc_record *cr = sl_pgcdc_record_take(pool, t);
    struct sl_pgo_msg *m = calloc(1, sizeof(*m));
    m->kind = 'I';
    tuple_set(&m->newtup, m->newv, "5", "x", NULL);
    struct sl_buf scratch;
    sl_buf_init(&scratch);
    cr->rel = rel;
    rel->refs++;
    cr->lsn = seqno;
    cr->seqno = seqno;
    cr->body_off = (uint32_t)t->buf.len;
    cr->event = (uint8_t)sl_pgcdc_render(rel, m, seqno, 1700000000, &scratch, &t->buf);
    cr->body_len = (uint32_t)(t->buf.len - cr->body_off);
    cr->base.body = (const unsigned char *)t->buf.data + cr->body_off;
    cr->base.body_len = cr->body_len;
    cr->base.time_ms = t->commit_ms;
    t->head = t->tail = NULL;
    sl_pgcdc_txn_unref(t); /* the record keeps it */
    sl_buf_release(&scratch);
    free(m);
    return cr;
}

static void test_encode_and_text_record(void **state)
{
    (void)state;
    struct sl_pgcdc_pool pool = {0};
    struct sl_pgcdc_rel rel;
    rel_make(&rel, 'd');
    struct sl_pgcdc_record *cr = typed_record(&pool, &rel, 23456789);
    struct sl_record *r = &cr->base;
    struct sl_buf out;
    sl_buf_init(&out);
    sl_pgcdc_encode("orders", &r, 1, SL_CFG_FORMAT_LAMBDA, &out);
    json_t *ev = parse(out.data, out.len);
    json_t *rec = json_array_get(json_object_get(ev, "Records"), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "eventID")), "s1:23456789");
    assert_string_equal(json_string_value(json_object_get(rec, "eventName")), "INSERT");
    assert_string_equal(json_string_value(json_object_get(rec, "eventVersion")), "1.1");
    assert_string_equal(json_string_value(json_object_get(rec, "eventSource")), "sluice:postgres");
    assert_string_equal(json_string_value(json_object_get(rec, "awsRegion")), "eu-west-1");
    assert_string_equal(json_string_value(json_object_get(rec, "eventSourceARN")),
                        "postgres://127.0.0.1:5432/app/public.orders/stream/s1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(rec, "dynamodb"), "SequenceNumber")),
        "23456789");
    assert_int_equal(json_object_size(rec), 7);

    /* Partial batch responses name the SequenceNumber. */
    json_t *id = json_string("23456789");
    assert_true(r->ops->matches(r, id));
    json_decref(id);
    id = json_integer(23456789);
    assert_true(r->ops->matches(r, id));
    json_decref(id);
    id = json_string("2345678");
    assert_false(r->ops->matches(r, id));
    json_decref(id);

    /* Redrive: a text record from the typed one's id, attrs, coords and body encodes to the
     * same event. */
    struct sl_buf idb, attrs, coords;
    sl_buf_init(&idb);
    sl_buf_init(&attrs);
    sl_buf_init(&coords);
    r->ops->write_id(r, &idb);
    r->ops->write_attrs(r, &attrs);
    r->ops->write_coords(r, &coords);
    assert_string_equal(idb.data, "23456789");
    json_t *c = parse(coords.data, coords.len);
    assert_string_equal(json_string_value(json_object_get(c, "slot")), "s1");
    assert_string_equal(json_string_value(json_object_get(c, "lsn")), "0/165EC15");
    assert_string_equal(json_string_value(json_object_get(c, "commitLsn")), "0/1000");
    assert_int_equal(json_integer_value(json_object_get(c, "xid")), 99);
    json_decref(c);
    struct sl_record *t = sl_record_new(idb.data, attrs.data, coords.data, r->body, r->body_len);
    struct sl_buf out2;
    sl_buf_init(&out2);
    sl_pgcdc_encode("orders", &t, 1, SL_CFG_FORMAT_LAMBDA, &out2);
    assert_int_equal(out.len, out2.len);
    assert_memory_equal(out.data, out2.data, out.len);

    /* raw: a plain array. */
    sl_buf_reset(&out2);
    sl_pgcdc_encode("orders", &r, 1, SL_CFG_FORMAT_RAW, &out2);
    assert_int_equal(out2.data[0], '[');

    /* The filter view: dynamodb as the data, eventName and the rest as metadata. */
    struct sl_fview fv;
    assert_true(sl_pgcdc_filter_view(r, &fv));
    json_t *v = sl_fview_json(&fv);
    assert_string_equal(json_string_value(json_object_get(v, "eventName")), "INSERT");
    assert_string_equal(json_string_value(json_object_get(v, "eventSource")), "sluice:postgres");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(v, "dynamodb"), "NewImage"), "note"),
            "S")),
        "x");
    json_decref(v);
    assert_true(sl_pgcdc_filter_view(t, &fv));
    v = sl_fview_json(&fv);
    assert_string_equal(json_string_value(json_object_get(v, "eventName")), "INSERT");
    json_decref(v);

    sl_record_free(t);
    json_decref(ev);
    sl_buf_release(&out);
    sl_buf_release(&out2);
    sl_buf_release(&idb);
    sl_buf_release(&attrs);
    sl_buf_release(&coords);
    r->ops->release(r);
    sl_pgcdc_pool_release(&pool);
    sl_pgcdc_rel_release(&rel);
}

static int load(const char *yaml, struct sl_config *cfg, struct sl_err *err)
{
    return sl_config_load_text(yaml, strlen(yaml), false, "t.yaml", cfg, err);
}

static const char FN[] = "functions:\n  - {name: fn, type: http, url: 'http://127.0.0.1:1/'}\n"
                         "mappings:\n  - {name: m, source: Src-1, function: fn}\n";

static int bind_source(const char *src, struct sl_pgcdc_cfg *out, struct sl_err *err)
{
    char text[1024];
    snprintf(text, sizeof(text), "%ssources:\n  - %s\n", FN, src);
    struct sl_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    int rc = load(text, &cfg, err);
    if (rc == 0)
        rc = sl_pgcdc_cfg_bind(&cfg, SL_OBJLIST_AT(cfg.sources, struct sl_cfg_typed, 0), out, err);
    sl_config_release(&cfg);
    return rc;
}

static void test_config_and_init_sql(void **state)
{
    (void)state;
    struct sl_pgcdc_cfg c;
    struct sl_err err;
    sl_err_clear(&err);
    assert_int_equal(bind_source("{name: Src-1, type: postgres-cdc, conninfo: 'host=h dbname=d', "
                                 "publication: pub_1, tables: [orders, shop.items]}",
                                 &c, &err),
                     0);
    assert_string_equal(c.slot, "sluice_src_1");
    assert_true(c.create);
    assert_int_equal(c.status_interval_ms, 5000);
    struct sl_buf sql;
    sl_buf_init(&sql);
    sl_pgcdc_init_sql(&c, &sql);
    assert_non_null(strstr(sql.data, "CREATE PUBLICATION \"pub_1\" FOR TABLE \"orders\", "
                                     "\"shop\".\"items\";"));
    assert_non_null(strstr(sql.data, "pubname = 'pub_1'"));
    sl_pgcdc_cfg_release(&c);
    assert_int_equal(bind_source("{name: Src-1, type: postgres-cdc, conninfo: 'host=h', "
                                 "publication: p}",
                                 &c, &err),
                     0);
    sl_buf_reset(&sql);
    sl_pgcdc_init_sql(&c, &sql);
    assert_non_null(strstr(sql.data, "FOR ALL TABLES"));
    sl_buf_release(&sql);
    sl_pgcdc_cfg_release(&c);
    /* The lock key depends on the slot only, and is stable. */
    assert_true(sl_pgcdc_lock_key("a") == sl_pgcdc_lock_key("a"));
    assert_true(sl_pgcdc_lock_key("a") != sl_pgcdc_lock_key("b"));

    struct {
        const char *src;
        const char *want[2];
    } bad[] = {
        {"{name: Src-1, type: postgres-cdc, conninfo: 'host=h'}", {"sources[0].publication", NULL}},
        {"{name: Src-1, type: postgres-cdc, conninfo: 'host=h', publication: 'a;b'}",
         {"sources[0].publication", "letters, digits and _"}},
        {"{name: Src-1, type: postgres-cdc, conninfo: 'host=h', publication: p, slot: Upper}",
         {"sources[0].slot", "lower-case"}},
        {"{name: Src-1, type: postgres-cdc, conninfo: 'host=h', publication: p, tables: ['a.b.c']}",
         {"sources[0].tables[0]", "schema.name"}},
        {"{name: Src-1, type: postgres-cdc, conninfo: 'host=h password=sekrit', publication: p}",
         {"sources[0].conninfo", NULL}},
        {"{name: Src-1, type: postgres-cdc, conninfo: 'nonsense', publication: p}",
         {"sources[0].conninfo", NULL}},
        {"{name: Src-1, type: postgres-cdc, conninfo: 'host=h', publication: p, "
         "status_interval: 10ms}",
         {"sources[0].status_interval", NULL}},
        {"{name: Src-1, type: postgres-cdc, conninfo: 'host=h', publication: p, colour: red}",
         {"sources[0].colour", NULL}},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_err_clear(&err);
        int rc = bind_source(bad[i].src, &c, &err);
        if (rc != SL_ECONFIG)
            fail_msg("%s: accepted (%d)", bad[i].src, rc);
        for (int k = 0; k < 2 && bad[i].want[k]; k++) {
            if (!strstr(err.msg, bad[i].want[k]))
                fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].src, err.msg, bad[i].want[k]);
        }
        assert_null(strstr(err.msg, "sekrit"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_values),
        cmocka_unit_test(test_render_images_by_identity),
        cmocka_unit_test(test_encode_and_text_record),
        cmocka_unit_test(test_config_and_init_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
