/* The webhook source's typed record: the same text forms webhook records had, the same event,
 * and records reused from the hook's free list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "core/buf.h"
#include "sources/http/webhook_int.h"

static const char ATTRS[] = "{\"method\":\"POST\",\"path\":\"/hooks/or\\\"ders\",\"query\":\"\","
                            "\"headers\":{\"content-type\":\"application/json\"}}";

static void text_of(const struct sl_record *r, void (*w)(const struct sl_record *, struct sl_buf *),
                    char *out, size_t cap)
{
    struct sl_buf b;
    sl_buf_init(&b);
    w(r, &b);
    assert_true(b.len < cap);
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    sl_buf_release(&b);
}

static void test_text_forms_and_event(void **state)
{
    struct sl_push_pool pool;
    sl_push_pool_init(&pool, &sl_webhook_record_ops, "or\"ders");
    const char *id = "0b7f5c1e-3c55-4b8e-9d0e-8d5b0d4f1a2b";
    struct sl_record *r = sl_push_record_take(&pool, 42, id, 1700000000123, ATTRS, "{\"n\":1}", 7);
    assert_int_equal(r->seq, 42);
    assert_int_equal(r->time_ms, 1700000000123);
    assert_int_equal(r->body_len, 7);
    assert_memory_equal(r->body, "{\"n\":1}", 7);
    char text[512];
    text_of(r, r->ops->write_id, text, sizeof(text));
    assert_string_equal(text, id);
    text_of(r, r->ops->write_attrs, text, sizeof(text));
    assert_string_equal(text, ATTRS);
    text_of(r, r->ops->write_coords, text, sizeof(text));
    json_t *c = json_loads(text, 0, NULL);
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "hook")), "or\"ders");
    assert_string_equal(json_string_value(json_object_get(c, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(c, "spoolSeq")), 42);
    json_decref(c);
    json_t *yes = json_string(id), *no = json_string("other");
    assert_true(r->ops->matches(r, yes));
    assert_false(r->ops->matches(r, no));
    json_decref(yes);
    json_decref(no);

    /* The event of a typed record is the event of the text record with the same parts. */
    struct sl_record *t = sl_record_new(id, ATTRS, text, "{\"n\":1}", 7);
    t->time_ms = r->time_ms;
    struct sl_buf a, b;
    sl_buf_init(&a);
    sl_buf_init(&b);
    sl_webhook_encode("or\"ders", &r, 1, SL_CFG_FORMAT_LAMBDA, &a);
    sl_webhook_encode("or\"ders", &t, 1, SL_CFG_FORMAT_LAMBDA, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    sl_buf_release(&a);
    sl_buf_release(&b);
    sl_record_free(t);

    /* Released to the free list, taken again without a new allocation. */
    sl_record_free(r);
    assert_ptr_equal(pool.free, (struct sl_push_rec *)r);
    struct sl_record *r2 = sl_push_record_take(&pool, 43, "x", 1, NULL, "", 0);
    assert_ptr_equal(r2, r);
    assert_null(pool.free);
    text_of(r2, r2->ops->write_attrs, text, sizeof(text));
    assert_string_equal(text, "{}");
    sl_record_free(r2);
    sl_push_pool_release(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_forms_and_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
