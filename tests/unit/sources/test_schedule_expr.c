/* sources/schedule: rate() and cron() expressions over the examples the EventBridge docs
 * publish ("Schedule types", https://docs.aws.amazon.com/scheduler/latest/UserGuide/
 * schedule-types.html) and the wildcards they describe, with the next fire times from a fixed
 * start, in UTC and in daylight-saving zones read from the system tz database; bad expressions
 * name the field and what is allowed. The table's expressions are also the fuzz seed corpus
 * (tests/fuzz/corpus/schedule_expr). Expected times were worked out from the calendar (and
 * checked against Python's zoneinfo), not printed by this code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/time.h"
#include "sources/schedule/expr.h"
#include "sources/schedule/tz.h"

struct example {
    const char *expr;
    const char *tz; /* NULL: UTC */
    const char *start;
    const char *next[3]; /* successive fires; NULL: no more */
};

/* Start: Friday 2026-11-27 17:30 UTC unless a row says otherwise. */
#define FRI "2026-11-27T17:30:00Z"

static const struct example examples[] = {
    /* The EventBridge docs' examples. */
    {"cron(0 10 * * ? *)",
     NULL,
     FRI,
     {"2026-11-28T10:00:00Z", "2026-11-29T10:00:00Z", "2026-11-30T10:00:00Z"}},
    {"cron(15 12 * * ? *)",
     NULL,
     FRI,
     {"2026-11-28T12:15:00Z", "2026-11-29T12:15:00Z", "2026-11-30T12:15:00Z"}},
    {"cron(0 18 ? * MON-FRI *)",
     NULL,
     FRI,
     {"2026-11-27T18:00:00Z", "2026-11-30T18:00:00Z", "2026-12-01T18:00:00Z"}},
    {"cron(0 8 1 * ? *)",
     NULL,
     FRI,
     {"2026-12-01T08:00:00Z", "2027-01-01T08:00:00Z", "2027-02-01T08:00:00Z"}},
    {"cron(0/15 * * * ? *)",
     NULL,
     FRI,
     {"2026-11-27T17:45:00Z", "2026-11-27T18:00:00Z", "2026-11-27T18:15:00Z"}},
    {"cron(0/10 * ? * MON-FRI *)",
     NULL,
     "2026-11-27T23:45:00Z",
     {"2026-11-27T23:50:00Z", "2026-11-30T00:00:00Z", "2026-11-30T00:10:00Z"}},
    {"cron(0/5 8-17 ? * MON-FRI *)",
     NULL,
     "2026-11-27T17:50:00Z",
     {"2026-11-27T17:55:00Z", "2026-11-30T08:00:00Z", "2026-11-30T08:05:00Z"}},
    {"cron(0 9 ? * 2#1 *)",
     NULL,
     FRI,
     {"2026-12-07T09:00:00Z", "2027-01-04T09:00:00Z", "2027-02-01T09:00:00Z"}},
    {"rate(1 minute)",
     NULL,
     FRI,
     {"2026-11-27T17:31:00Z", "2026-11-27T17:32:00Z", "2026-11-27T17:33:00Z"}},
    {"rate(5 minutes)",
     NULL,
     "2026-11-27T17:31:10Z",
     {"2026-11-27T17:35:00Z", "2026-11-27T17:40:00Z", "2026-11-27T17:45:00Z"}},
    {"rate(1 hour)",
     NULL,
     FRI,
     {"2026-11-27T18:00:00Z", "2026-11-27T19:00:00Z", "2026-11-27T20:00:00Z"}},
    /* Rates count from the Unix epoch, a Thursday. */
    {"rate(7 days)",
     NULL,
     FRI,
     {"2026-12-03T00:00:00Z", "2026-12-10T00:00:00Z", "2026-12-17T00:00:00Z"}},
    {"rate(1 day)",
     "America/New_York",
     FRI,
     {"2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z"}},
    /* The sluice extension. */
    {"rate(30 seconds)",
     NULL,
     "2026-11-27T17:30:05Z",
     {"2026-11-27T17:30:30Z", "2026-11-27T17:31:00Z", "2026-11-27T17:31:30Z"}},
    /* Wildcards. */
    {"cron(0 0 L * ? *)",
     NULL,
     FRI,
     {"2026-11-30T00:00:00Z", "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z"}},
    {"cron(0 0 L 2 ? *)",
     NULL,
     FRI,
     {"2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"}},
    {"cron(0 0 L-2 * ? *)",
     NULL,
     FRI,
     {"2026-11-28T00:00:00Z", "2026-12-29T00:00:00Z", "2027-01-29T00:00:00Z"}},
    /* 2027-05-15 is a Saturday: the Friday before; 2028-01-01 is a Saturday: Monday the 3rd. */
    {"cron(0 0 15W 5 ? 2027)", NULL, FRI, {"2027-05-14T00:00:00Z", NULL}},
    {"cron(0 0 1W 1 ? 2028)", NULL, FRI, {"2028-01-03T00:00:00Z", NULL}},
    /* 2027-01-31 is a Sunday. */
    {"cron(0 0 LW 1 ? 2027)", NULL, FRI, {"2027-01-29T00:00:00Z", NULL}},
    {"cron(0 0 ? * 6L *)",
     NULL,
     FRI,
     {"2026-12-25T00:00:00Z", "2027-01-29T00:00:00Z", "2027-02-26T00:00:00Z"}},
    {"cron(0 0 ? * L *)",
     NULL,
     FRI,
     {"2026-11-28T00:00:00Z", "2026-12-05T00:00:00Z", "2026-12-12T00:00:00Z"}},
    {"cron(0 12 1 JAN,jul ? 2027-2028)",
     NULL,
     FRI,
     {"2027-01-01T12:00:00Z", "2027-07-01T12:00:00Z", "2028-01-01T12:00:00Z"}},
    {"cron(5,35 1-2 ? * SAT,SUN *)",
     NULL,
     FRI,
     {"2026-11-28T01:05:00Z", "2026-11-28T01:35:00Z", "2026-11-28T02:05:00Z"}},
    {"cron(10-20/5 3 * * ? *)",
     NULL,
     FRI,
     {"2026-11-28T03:10:00Z", "2026-11-28T03:15:00Z", "2026-11-28T03:20:00Z"}},
    {"cron(0 0 31 2 ? *)", NULL, FRI, {NULL}},
    /* Daylight saving in New York: 2027-03-14 02:30 does not exist (skipped); 2027-11-07
     * 01:30 happens twice (fired once, at the first). */
    {"cron(30 2 * * ? *)",
     "America/New_York",
     "2027-03-13T00:00:00Z",
     {"2027-03-13T07:30:00Z", "2027-03-15T06:30:00Z", "2027-03-16T06:30:00Z"}},
    {"cron(30 1 * * ? *)",
     "America/New_York",
     "2027-11-06T00:00:00Z",
     {"2027-11-06T05:30:00Z", "2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z"}},
    /* Frequent crons: the skipped hour has no fires; the repeated hour fires once. */
    {"cron(0/30 * * * ? *)",
     "America/New_York",
     "2027-03-14T06:30:00Z",
     {"2027-03-14T07:00:00Z", "2027-03-14T07:30:00Z", "2027-03-14T08:00:00Z"}},
    {"cron(0/15 * * * ? *)",
     "America/New_York",
     "2027-11-07T05:30:00Z",
     {"2027-11-07T05:45:00Z", "2027-11-07T07:00:00Z", "2027-11-07T07:15:00Z"}},
    {"cron(0 12 * * ? *)",
     "Europe/Berlin",
     "2027-03-27T00:00:00Z",
     {"2027-03-27T11:00:00Z", "2027-03-28T10:00:00Z", "2027-03-29T10:00:00Z"}},
    /* Past the files' transitions: their POSIX rule (northern and southern hemisphere). */
    {"cron(0 12 1 7 ? 2050)", "Europe/Berlin", FRI, {"2050-07-01T10:00:00Z", NULL}},
    {"cron(0 0 1 1,7 ? 2045)",
     "Australia/Sydney",
     FRI,
     {"2044-12-31T13:00:00Z", "2045-06-30T14:00:00Z", NULL}},
};

static int64_t t(const char *s)
{
    int64_t ms = 0;
    assert_int_equal(sl_time_parse(s, 0, &ms), 0);
    return ms;
}

static void test_published_examples(void **state)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(examples); i++) {
        const struct example *x = &examples[i];
        struct sl_sched_expr e;
        char why[256] = "";
        if (sl_sched_expr_parse(x->expr, &e, why, sizeof(why)) != 0)
            fail_msg("%s: %s", x->expr, why);
        struct sl_tz *z = NULL;
        if (x->tz && sl_tz_load(x->tz, &z, why, sizeof(why)) != 0)
            fail_msg("%s: %s", x->tz, why);
        int64_t at = t(x->start);
        for (size_t k = 0; k < 3; k++) {
            int64_t next = 0;
            int rc = sl_sched_expr_next(&e, z, at, &next);
            char got[32] = "(none)";
            if (rc == 0)
                sl_time_fmt_iso(next, got, sizeof(got));
            if (!x->next[k]) {
                if (rc != SL_ENOTFOUND)
                    fail_msg("%s from %s: fire %zu: expected none, got %s", x->expr, x->start,
                             k + 1, got);
                break;
            }
            if (rc != 0 || next != t(x->next[k]))
                fail_msg("%s in %s from %s: fire %zu: expected %s, got %s", x->expr,
                         x->tz ? x->tz : "UTC", x->start, k + 1, x->next[k], got);
            at = next;
        }
        sl_tz_destroy(z);
    }
}

struct bad {
    const char *expr;
    const char *says; /* a part of the message */
};

static const struct bad bads[] = {
    {"cron(0 12 * * * *)", "exactly one of day-of-month and day-of-week must be ?"},
    {"cron(0 12 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"},
    {"cron(60 * * * ? *)", "minutes \"60\": out of range (allowed: 0-59"},
    {"cron(0 24 * * ? *)", "hours \"24\": out of range (allowed: 0-23"},
    {"cron(0 0 32 * ? *)", "day-of-month \"32\": out of range (allowed: 1-31"},
    {"cron(0 0 * 13 ? *)", "month \"13\": out of range (allowed: 1-12 or JAN-DEC"},
    {"cron(0 0 * FOO ? *)", "month \"FOO\": not a value"},
    {"cron(0 0 ? * 8 *)", "day-of-week \"8\": out of range (allowed: 1-7 or SUN-SAT"},
    {"cron(0 0 * * ? 1969)", "year \"1969\": out of range (allowed: 1970-2199"},
    {"cron(0 0 * * ?)", "six fields: minutes hours day-of-month month day-of-week year (5 given)"},
    {"cron(0 0 * * ? * *)", "(more were given)"},
    {"cron(*/0 * * * ? *)", "minutes \"*/0\": the increment is out of range"},
    {"cron(5-1 * * * ? *)", "minutes \"5-1\": a range must not run backwards"},
    {"cron(0 0 ? * MON#6 *)", "day-of-week \"MON#6\": d#n needs n from 1 to 5"},
    {"cron(0 0 ?,1 * ? *)", "day-of-month \"?,1\": ?, L, W and # stand alone"},
    {"cron(0 ? * * ? *)", "hours \"?\": ? is allowed only in day-of-month and day-of-week"},
    {"cron(0 0 32W * ? *)", "day-of-month \"32W\": nW needs one day n from 1 to 31"},
    {"cron(0 0 1,,2 * ? *)", "day-of-month \"1,,2\": an empty list item"},
    {"rate(0 minutes)", "rate() takes a whole number from 1 to 1000000"},
    {"rate(5)", "rate() takes a whole number from 1 to 1000000, a space and a unit"},
    {"rate(1 minutes)", "rate(1 ...) takes the singular unit"},
    {"rate(5 minute)", "a rate above 1 takes the plural unit"},
    {"rate(2 weeks)", "the unit of rate() is minute(s), hour(s) or day(s)"},
    {"every 5 minutes", "an expression is rate(value unit) or cron("},
    {"", "an expression is rate(value unit) or cron("},
    {"CRON(0 0 * * ? *)", "an expression is rate(value unit) or cron("},
};

static void test_bad_expressions_say_why(void **state)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(bads); i++) {
        struct sl_sched_expr e;
        char why[256] = "";
        int rc = sl_sched_expr_parse(bads[i].expr, &e, why, sizeof(why));
        if (rc != SL_EPARSE)
            fail_msg("%s: accepted", bads[i].expr);
        if (!strstr(why, bads[i].says))
            fail_msg("%s: message \"%s\" does not say \"%s\"", bads[i].expr, why, bads[i].says);
    }
    char longer[400];
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    struct sl_sched_expr e;
    char why[256];
    assert_int_equal(sl_sched_expr_parse(longer, &e, why, sizeof(why)), SL_EPARSE);
    assert_non_null(strstr(why, "longer than 256"));
}

static void test_zone_names_and_rules(void **state)
{
    struct sl_tz *z = NULL;
    char why[256] = "";
    assert_true(sl_tz_load("../etc/passwd", &z, why, sizeof(why)) < 0);
    assert_non_null(strstr(why, "not an IANA time zone name"));
    assert_true(sl_tz_load("Mars/Olympus_Mons", &z, why, sizeof(why)) < 0);
    assert_non_null(strstr(why, "no such time zone"));
    assert_int_equal(sl_tz_load("UTC", &z, why, sizeof(why)), 0);
    assert_int_equal(sl_tz_offset(z, t("2027-07-01T00:00:00Z") / 1000), 0);
    sl_tz_destroy(z);
    /* A rule alone: Central European time, summer time from the last Sunday of March (01:00
     * UTC) to the last Sunday of October. */
    assert_int_equal(sl_tz_parse_rule("CET-1CEST,M3.5.0,M10.5.0/3", &z, why, sizeof(why)), 0);
    assert_int_equal(sl_tz_offset(z, t("2027-03-28T00:59:59Z") / 1000), 3600);
    assert_int_equal(sl_tz_offset(z, t("2027-03-28T01:00:00Z") / 1000), 7200);
    assert_int_equal(sl_tz_offset(z, t("2027-10-31T00:59:59Z") / 1000), 7200);
    assert_int_equal(sl_tz_offset(z, t("2027-10-31T01:00:00Z") / 1000), 3600);
    sl_tz_destroy(z);
    assert_true(sl_tz_parse_rule("CET-1CEST", &z, why, sizeof(why)) < 0);
    assert_true(sl_tz_parse(" not a tzif", 11, &z, why, sizeof(why)) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_examples),
        cmocka_unit_test(test_bad_expressions_say_why),
        cmocka_unit_test(test_zone_names_and_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
