/* Assertions on server answers shared by the server tests (include after cmocka.h). */
#ifndef SL_TESTS_UNIT_SERVER_ASSERTS_H
#define SL_TESTS_UNIT_SERVER_ASSERTS_H

#include <jansson.h>

#include "tests/unit/server/fixture.h"

/* The answer has this status and a JSON body {"error": code, ...}. */
static inline void assert_error_code(struct th_resp *r, int status, const char *code)
{
    assert_int_equal(r->status, status);
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "error")), code);
    json_decref(j);
}

/* A connection the server refuses at once: status and code, Connection: close, then closed. */
static inline void assert_refused(struct fx *f, struct th_client *c, int status, const char *code)
{
    struct th_resp r;
    char v[64];
    assert_true(th_read_response(f->loop, c, &r));
    assert_error_code(&r, status, code);
    assert_true(th_resp_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    th_resp_free(&r);
    assert_true(th_wait_closed(f->loop, c));
    th_close(c);
}

#endif
