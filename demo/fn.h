/* sluice-fn: a small function endpoint. It answers POST /invoke with Lambda's conventions and
 * can be told to fail: by the events themselves (a record body with "fail": true, or
 * "fail": "partial") for the README tour, or by a script of responses and a random failure
 * rate for tests. Every invocation is appended to a JSON-lines log. */
#ifndef SL_DEMO_FN_H
#define SL_DEMO_FN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* One scripted response, used once (count times). */
struct fn_step {
    int status;          /* HTTP status (0: 200) */
    int retry_after;     /* seconds, -1 none */
    int64_t delay_ms;    /* answer after this long */
    bool reset;          /* close the connection without answering */
    bool function_error; /* 200 + X-Amz-Function-Error: Unhandled */
    char *body;          /* raw body, or NULL */
    int count;
};

struct fn_script {
    struct fn_step *steps;
    size_t n;
    size_t pos;
    double fail_rate; /* probability of a 500 after the script */
    uint64_t rng;
    bool poison_partial; /* "fail": true records: report them as batchItemFailures */
};

/* What the invocation's records ask for. */
struct fn_batch {
    size_t n;
    struct sl_buf ids;    /* JSON array text of the record ids */
    struct sl_buf failed; /* JSON array text of ids asking to fail */
    size_t nfailed;
    bool want_partial; /* some record asked for "fail": "partial" */
};

/* Parses a script: [{"status":500,"count":2},{"retryAfter":1,"status":429},...]. */
int fn_script_parse(struct fn_script *s, const char *json, size_t len, char *msg, size_t cap);
void fn_script_release(struct fn_script *s);
/* The next step (NULL when the script is used up). */
const struct fn_step *fn_script_next(struct fn_script *s);
/* Reads the record ids and fail requests of a payload ({"Records":[...]} or [...]). */
void fn_batch_parse(struct fn_batch *b, const char *payload, size_t len);
void fn_batch_release(struct fn_batch *b);

#endif
