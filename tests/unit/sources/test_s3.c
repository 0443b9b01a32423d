/* The object-store notification source's parser and encoder: the recorded MinIO, Ceph RGW and
 * AWS bodies (tests/fuzz/corpus/s3_notification, written from their documented formats) give
 * Lambda's S3 records; probes hold none; bad bodies are refused with the field named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "sources/s3/s3_int.h"

static char *read_body(const char *name, size_t *len)
{
    const char *src = getenv("SLUICE_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/s3_notification/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (SLUICE_SRC)", path);
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Parses a recorded body; the records' JSON parsed as trees in recs (a new array). */
static enum sl_s3_parse_result parse_file(const char *name, struct sl_s3_batch *b, json_t **recs)
{
    size_t len;
    char *body = read_body(name, &len);
    char why[256];
    enum sl_s3_parse_result res = sl_s3_parse(body, len, 100, 0xABCDEF, b, why, sizeof(why));
    free(body);
    *recs = json_array();
    for (size_t i = 0; res == SL_S3_PARSE_RECORDS && i < b->n; i++) {
        json_t *r = json_loadb(b->v[i].json, b->v[i].json_len, 0, NULL);
        assert_non_null(r);
        json_array_append_new(*recs, r);
    }
    return res;
}

static const char *path_str(json_t *root, const char *path)
{
    json_t *v = root;
    char part[64];
    for (const char *p = path; v && *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        memcpy(part, p, n);
        part[n] = '\0';
        v = json_object_get(v, part);
        p += n + (dot ? 1 : 0);
    }
    return json_string_value(v);
}

static json_t *path_get(json_t *root, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(root, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return v;
}

static void test_minio_put(void **state)
{
    (void)state;
    struct sl_s3_batch b;
    json_t *recs;
    sl_s3_batch_init(&b);
    assert_int_equal(parse_file("minio_put.json", &b, &recs), SL_S3_PARSE_RECORDS);
    assert_int_equal(b.n, 1);
    json_t *r = json_array_get(recs, 0);
    /* MinIO's "s3:" prefix is stripped; the source is S3's. */
    assert_string_equal(path_str(r, "eventName"), "ObjectCreated:Put");
    assert_string_equal(path_str(r, "eventSource"), "aws:s3");
    assert_string_equal(path_str(r, "eventVersion"), "2.0");
    assert_string_equal(path_str(r, "s3.bucket.name"), "images");
    assert_string_equal(path_str(r, "s3.bucket.arn"), "arn:aws:s3:::images");
    /* MinIO sent the key encoded already: not encoded twice. */
    assert_string_equal(path_str(r, "s3.object.key"), "red+flower.jpg");
    assert_int_equal(json_integer_value(path_get(r, "s3", "object", "size")), 248682);
    assert_string_equal(path_str(r, "s3.object.eTag"), "f1671feacb8bbf7b0397c6e9364e8c92");
    assert_string_equal(path_str(r, "s3.object.sequencer"), "187C8D0B0F4D5E6A");
    assert_null(path_get(r, "s3", "object", "versionId"));
    assert_string_equal(path_str(r, "userIdentity.principalId"), "minioadmin");
    assert_string_equal(path_str(r, "responseElements.x-amz-request-id"), "187C8D0B0F1A2B3C");
    /* MinIO's own members are kept. */
    assert_string_equal(path_str(r, "s3.object.contentType"), "image/jpeg");
    assert_string_equal(path_str(r, "source.host"), "127.0.0.1");
    assert_memory_equal(b.v[0].key, "red flower.jpg", b.v[0].key_len);
    assert_int_equal(b.v[0].key_len, 14);
    assert_memory_equal(b.v[0].sequencer, "187C8D0B0F4D5E6A", 16);
    /* "s3" is the record's last member (the filter view finds it there). */
    const char *last = strstr(b.v[0].json, ",\"s3\":{\"s3SchemaVersion\"");
    assert_non_null(last);
    json_decref(recs);
    sl_s3_batch_release(&b);
}

static void test_minio_delete_key_encoding(void **state)
{
    (void)state;
    struct sl_s3_batch b;
    json_t *recs;
    sl_s3_batch_init(&b);
    assert_int_equal(parse_file("minio_delete.json", &b, &recs), SL_S3_PARSE_RECORDS);
    json_t *r = json_array_get(recs, 0);
    assert_string_equal(path_str(r, "eventName"), "ObjectRemoved:Delete");
    assert_string_equal(path_str(r, "awsRegion"), "us-east-1");
    /* url.QueryEscape's %2F becomes S3's '/', '%' and '+' stay escaped. */
    assert_string_equal(path_str(r, "s3.object.key"), "2026/a%25b%2Bc.txt");
    assert_int_equal(b.v[0].key_len, strlen("2026/a%b+c.txt"));
    assert_memory_equal(b.v[0].key, "2026/a%b+c.txt", b.v[0].key_len);
    /* A delete has no size and no eTag. */
    assert_null(path_get(r, "s3", "object", "size"));
    assert_null(path_get(r, "s3", "object", "eTag"));
    json_decref(recs);
    sl_s3_batch_release(&b);
}

static void test_ceph(void **state)
{
    (void)state;
    struct sl_s3_batch b;
    json_t *recs;
    sl_s3_batch_init(&b);
    assert_int_equal(parse_file("ceph_put.json", &b, &recs), SL_S3_PARSE_RECORDS);
    json_t *r = json_array_get(recs, 0);
    assert_string_equal(path_str(r, "eventSource"), "aws:s3");
    assert_string_equal(path_str(r, "eventName"), "ObjectCreated:Put");
    /* Ceph sends the key as it is: sluice encodes it as S3 does. */
    assert_string_equal(path_str(r, "s3.object.key"), "docs/report+2026%2Bfinal.pdf");
    assert_memory_equal(b.v[0].key, "docs/report 2026+final.pdf", b.v[0].key_len);
    /* A size sent as a numeric string is a number; an empty versionId is left out. */
    assert_int_equal(json_integer_value(path_get(r, "s3", "object", "size")), 1024);
    assert_null(path_get(r, "s3", "object", "versionId"));
    assert_string_equal(path_str(r, "s3.bucket.arn"), "arn:aws:s3:default::mybucket1");
    assert_string_equal(path_str(r, "opaqueData"), "me@example.com");
    assert_non_null(path_get(r, "s3", "object", "metadata"));
    json_decref(recs);

    assert_int_equal(parse_file("ceph_two.json", &b, &recs), SL_S3_PARSE_RECORDS);
    assert_int_equal(b.n, 2);
    assert_string_equal(path_str(json_array_get(recs, 0), "s3.object.versionId"),
                        "gSnJ4X4Ks8R1Nc9sOQ0-KnvDdNPh9Ag");
    assert_string_equal(path_str(json_array_get(recs, 1), "eventName"),
                        "ObjectRemoved:DeleteMarkerCreated");
    json_decref(recs);
    sl_s3_batch_release(&b);
}

static void test_aws_record_unchanged(void **state)
{
    (void)state;
    struct sl_s3_batch b;
    json_t *recs;
    sl_s3_batch_init(&b);
    assert_int_equal(parse_file("aws_put.json", &b, &recs), SL_S3_PARSE_RECORDS);
    size_t len;
    char *body = read_body("aws_put.json", &len);
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *orig = json_array_get(json_object_get(doc, "Records"), 0);
    json_t *r = json_array_get(recs, 0);
    /* S3's own record comes out as it went in, member for member, but for the key: Lambda's
     * example encodes a space as %20, S3's notifications (and sluice) as '+'. */
    json_object_set_new(json_object_get(json_object_get(orig, "s3"), "object"), "key",
                        json_string("images/Happy+Face.jpg"));
    assert_true(json_equal(orig, r));
    json_decref(doc);
    free(body);
    json_decref(recs);
    sl_s3_batch_release(&b);
}

static void test_probes(void **state)
{
    (void)state;
    struct sl_s3_batch b;
    json_t *recs;
    sl_s3_batch_init(&b);
    assert_int_equal(parse_file("aws_test_event.json", &b, &recs), SL_S3_PARSE_PROBE);
    json_decref(recs);
    assert_int_equal(parse_file("empty.json", &b, &recs), SL_S3_PARSE_PROBE);
    json_decref(recs);
    char why[128];
    assert_int_equal(sl_s3_parse(" \n", 2, 10, 1, &b, why, sizeof(why)), SL_S3_PARSE_PROBE);
    assert_int_equal(sl_s3_parse("{\"Records\":[]}", 14, 10, 1, &b, why, sizeof(why)),
                     SL_S3_PARSE_RECORDS);
    assert_int_equal(b.n, 0);
    sl_s3_batch_release(&b);
}

static void expect_refused(const char *body, enum sl_s3_parse_result want, const char *msg)
{
    struct sl_s3_batch b;
    char why[256];
    sl_s3_batch_init(&b);
    assert_int_equal(sl_s3_parse(body, strlen(body), 2, 1, &b, why, sizeof(why)), want);
    if (!strstr(why, msg))
        fail_msg("message \"%s\" does not say \"%s\"", why, msg);
    assert_int_equal(b.n, 0);
    sl_s3_batch_release(&b);
}

#define REC(obj)                                                                                   \
    "{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"}," obj "}}"

static void test_refusals(void **state)
{
    (void)state;
    expect_refused("{\"Records\":", SL_S3_PARSE_INVALID, "not a JSON object");
    expect_refused("[1]", SL_S3_PARSE_INVALID, "not a JSON object");
    expect_refused("{\"Event\":\"x\"}", SL_S3_PARSE_INVALID, "no \"Records\" array");
    expect_refused("{\"Records\":[" REC("\"object\":{}") "]}", SL_S3_PARSE_INVALID,
                   "Records[0].s3.object.key is missing");
    expect_refused("{\"Records\":[" REC("\"object\":{\"key\":\"k\"}") ",1]}", SL_S3_PARSE_INVALID,
                   "Records[1] is not an object");
    expect_refused("{\"Records\":[" REC("\"object\":{\"key\":\"k\",\"size\":\"1x\"}") "]}",
                   SL_S3_PARSE_INVALID, "Records[0].s3.object.size is not a whole number");
    expect_refused("{\"Records\":[{\"s3\":{}}]}", SL_S3_PARSE_INVALID,
                   "Records[0].s3.bucket is missing");
    expect_refused("{\"Records\":[1,2,3]}", SL_S3_PARSE_TOO_MANY, "at most 2");
    size_t len;
    char *deep = read_body("deep.json", &len);
    expect_refused(deep, SL_S3_PARSE_INVALID, "too deeply nested");
    free(deep);
}

static void test_made_up_sequencer(void **state)
{
    (void)state;
    struct sl_s3_batch b;
    char why[128];
    sl_s3_batch_init(&b);
    const char body[] = "{\"Records\":[" REC("\"object\":{\"key\":\"k\"}") "," REC(
        "\"object\":{\"key\":\"k\",\"sequencer\":\"\"}") "]}";
    assert_int_equal(sl_s3_parse(body, strlen(body), 10, 0xABC, &b, why, sizeof(why)),
                     SL_S3_PARSE_RECORDS);
    assert_int_equal(b.v[0].sequencer_len, 20);
    assert_memory_equal(b.v[0].sequencer, "0000000000000ABC0000", 20);
    assert_memory_equal(b.v[1].sequencer, "0000000000000ABC0001", 20);
    sl_s3_batch_release(&b);
}

/* A record of a note, as the source makes them. */
static struct sl_record *take(struct sl_push_pool *pool, const struct sl_s3_note *n, uint64_t seq,
                              struct sl_buf *attrs)
{
    sl_buf_reset(attrs);
    sl_s3_write_note_attrs(attrs, n);
    sl_buf_putc(attrs, '\0');
    char id[SL_S3_MAX_SEQUENCER_BYTES + 1];
    memcpy(id, n->sequencer, n->sequencer_len);
    id[n->sequencer_len] = '\0';
    return sl_push_record_take(pool, seq, id, 1700000000000, attrs->data, n->json, n->json_len);
}

static void test_record_event_and_view(void **state)
{
    (void)state;
    struct sl_s3_batch b;
    json_t *recs;
    struct sl_push_pool pool;
    sl_push_pool_init(&pool, &sl_s3_record_ops, "orders");
    struct sl_buf attrs, out;
    sl_buf_init(&attrs);
    sl_buf_init(&out);
    sl_s3_batch_init(&b);
    assert_int_equal(parse_file("ceph_two.json", &b, &recs), SL_S3_PARSE_RECORDS);
    struct sl_record *rs[2] = {take(&pool, &b.v[0], 7, &attrs), take(&pool, &b.v[1], 8, &attrs)};
    /* The same object: the same lane. */
    const char *want = "{\"bucket\":\"mybucket1\",\"key\":\"logs/a.log\"}";
    assert_int_equal(sl_s3_lane(attrs.data, strlen(attrs.data), 16),
                     sl_s3_lane(want, strlen(want), 16));
    assert_string_equal(attrs.data, want);

    sl_s3_encode("objects", rs, 2, SL_CFG_FORMAT_LAMBDA, &out);
    json_t *ev = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(ev);
    assert_true(json_equal(json_object_get(ev, "Records"), recs));
    json_decref(ev);
    sl_buf_reset(&out);
    sl_s3_encode("objects", rs, 2, SL_CFG_FORMAT_RAW, &out);
    ev = json_loadb(out.data, out.len, 0, NULL);
    assert_true(json_equal(ev, recs));
    json_decref(ev);

    /* The identifier is the sequencer; the coordinates name bucket, key and spool row. */
    sl_buf_reset(&out);
    rs[1]->ops->write_id(rs[1], &out);
    sl_buf_putc(&out, '\0');
    assert_string_equal(out.data, "0E1E6D75DC742D10");
    json_t *item = json_string("0E1E6D75DC742D10");
    assert_true(rs[1]->ops->matches(rs[1], item));
    assert_false(rs[0]->ops->matches(rs[0], item));
    json_decref(item);
    sl_buf_reset(&out);
    rs[1]->ops->write_coords(rs[1], &out);
    sl_buf_putc(&out, '\0');
    assert_string_equal(out.data, "{\"bucket\":\"mybucket1\",\"key\":\"logs/a.log\","
                                  "\"sequencer\":\"0E1E6D75DC742D10\",\"spoolSeq\":8}");

    /* Filter patterns see the S3 record itself. */
    struct sl_fview v;
    assert_true(sl_s3_filter_view(rs[0], &v));
    json_t *view = sl_fview_json(&v);
    assert_true(json_equal(view, json_array_get(recs, 0)));
    json_decref(view);

    /* A redriven (text) record encodes and views the same. */
    struct sl_record *t =
        sl_record_new("0E1E6D75DC742D10", attrs.data, NULL, rs[1]->body, rs[1]->body_len);
    assert_true(sl_s3_filter_view(t, &v));
    view = sl_fview_json(&v);
    assert_true(json_equal(view, json_array_get(recs, 1)));
    json_decref(view);
    sl_record_free(t);

    rs[0]->ops->release(rs[0]);
    rs[1]->ops->release(rs[1]);
    /* Reused from the free list. */
    struct sl_record *again = take(&pool, &b.v[0], 9, &attrs);
    assert_ptr_equal(again, rs[1]);
    again->ops->release(again);
    sl_push_pool_release(&pool);
    json_decref(recs);
    sl_s3_batch_release(&b);
    sl_buf_release(&attrs);
    sl_buf_release(&out);
}

/* A view of a record whose "s3" comes first (a DLQ entry edited by hand) leaves it out too. */
static void test_view_s3_first(void **state)
{
    (void)state;
    const char body[] = "{ \"s3\" : {\"object\":{\"key\":\"a\"}} , \"eventName\":\"x\"}";
    struct sl_record *t = sl_record_new("1", "{}", NULL, body, strlen(body));
    struct sl_fview v;
    assert_true(sl_s3_filter_view(t, &v));
    json_t *view = sl_fview_json(&v);
    json_t *want = json_loads(body, 0, NULL);
    assert_true(json_equal(view, want));
    json_decref(view);
    json_decref(want);
    sl_record_free(t);
    t = sl_record_new("1", "{}", NULL, "{\"a\":1}", 7);
    assert_false(sl_s3_filter_view(t, &v));
    sl_record_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minio_put),
        cmocka_unit_test(test_minio_delete_key_encoding),
        cmocka_unit_test(test_ceph),
        cmocka_unit_test(test_aws_record_unchanged),
        cmocka_unit_test(test_probes),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_made_up_sequencer),
        cmocka_unit_test(test_record_event_and_view),
        cmocka_unit_test(test_view_s3_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
