/* Fuzzes the schedule expression parser (sources/schedule/expr.c) and the next-fire search: an
 * accepted expression must give fire times strictly after the start and in order, in UTC and
 * in a daylight-saving zone (a POSIX rule, so no file is read); a refused one must say why.
 * Seeds: the unit test's table of published examples (corpus/schedule_expr). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sources/schedule/expr.h"
#include "sources/schedule/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fires(const struct sl_sched_expr *e, const struct sl_tz *z, int64_t at)
{
    for (int i = 0; i < 3; i++) {
        int64_t next = 0;
        int rc = sl_sched_expr_next(e, z, at, &next);
        if (rc == SL_ENOTFOUND)
            return;
        if (rc != 0 || next <= at)
            abort();
        at = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct sl_sched_expr e;
    char why[256] = "";
    int rc = sl_sched_expr_parse(s, &e, why, sizeof(why));
    if (rc != 0 && (rc != SL_EPARSE || !why[0]))
        abort();
    if (rc == 0) {
        struct sl_tz *z = NULL;
        if (sl_tz_parse_rule("EST5EDT,M3.2.0,M11.1.0", &z, why, sizeof(why)) != 0)
            abort();
        check_fires(&e, NULL, 1795800600000); /* 2026-11-27T17:30:00Z */
        check_fires(&e, z, 1795800600000);
        check_fires(&e, z, 1804906800000); /* 2027-03-13T03:00:00Z, before a DST change */
        sl_tz_destroy(z);
    }
    free(s);
    return 0;
}
