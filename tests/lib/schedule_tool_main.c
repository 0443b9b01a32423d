/* schedule_tool: the schedule source's time computations for tests that check them against
 * Python's zoneinfo (tests/integration/test_schedule_oracle.py).
 *   schedule_tool offsets FROM STEP COUNT   zone names on stdin; prints each zone's UTC offset
 *                                           (seconds) at FROM, FROM+STEP, ... (Unix seconds)
 *   schedule_tool next                      lines "expression|zone|start ms|count" on stdin;
 *                                           prints the next `count` fire times (Unix ms) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/schedule/expr.h"
#include "sources/schedule/tz.h"

static int offsets(long long from, long long step, long count)
{
    char name[256], why[256];
    while (scanf("%255s", name) == 1) {
        struct sl_tz *z;
        if (sl_tz_load(name, &z, why, sizeof(why)) != 0) {
            printf("%s ERR %s\n", name, why);
            continue;
        }
        printf("%s", name);
        for (long i = 0; i < count; i++)
            printf(" %d", (int)sl_tz_offset(z, from + i * step));
        printf("\n");
        sl_tz_destroy(z);
    }
    return 0;
}

static int next_fires(void)
{
    char line[1024], why[256];
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *save = NULL;
        char *expr = strtok_r(line, "|", &save), *zone = strtok_r(NULL, "|", &save);
        char *start = strtok_r(NULL, "|", &save), *count = strtok_r(NULL, "|", &save);
        if (!expr || !zone || !start || !count) {
            printf("ERR bad line\n");
            continue;
        }
        struct sl_sched_expr e;
        struct sl_tz *z;
        if (sl_sched_expr_parse(expr, &e, why, sizeof(why)) != 0 ||
            sl_tz_load(zone, &z, why, sizeof(why)) != 0) {
            printf("ERR %s\n", why);
            continue;
        }
        int64_t at = atoll(start);
        for (int i = 0; i < atoi(count); i++) {
            int64_t next;
            if (sl_sched_expr_next(&e, z, at, &next) != 0)
                break;
            printf("%lld ", (long long)next);
            at = next;
        }
        printf("\n");
        sl_tz_destroy(z);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "offsets") == 0)
        return offsets(atoll(argv[2]), atoll(argv[3]), atol(argv[4]));
    if (argc == 2 && strcmp(argv[1], "next") == 0)
        return next_fires();
    fprintf(stderr, "usage: schedule_tool offsets FROM STEP COUNT | schedule_tool next\n");
    return 2;
}
