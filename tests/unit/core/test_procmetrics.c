/* core: the process metrics' /proc parsers, and their rendering from this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/procmetrics.h"

/* A command name with spaces and parentheses: fields count from the last ')'. */
static const char stat_text[] =
    "4242 (sl (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 12345 "
    "104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

static void test_stat_parse(void **state)
{
    struct sl_proc_stat st;
    assert_int_equal(
        sl_proc_stat_parse(stat_text, sizeof(stat_text) - 1, 100, 4096, 1700000000, &st), 0);
    assert_true(st.cpu_seconds == 3.0);              /* (250 + 50) / 100 */
    assert_true(st.start_time_s == 1700000123.45);   /* btime + 12345 / 100 */
    assert_true(st.resident_bytes == 2560.0 * 4096); /* rss pages */
    assert_true(st.virtual_bytes == 104857600.0);
    assert_int_equal(sl_proc_stat_parse("1 (x) S 1 2 3\n", 14, 100, 4096, 0, &st), -EINVAL);
    assert_int_equal(sl_proc_stat_parse("no paren", 8, 100, 4096, 0, &st), -EINVAL);
}

static void test_btime_parse(void **state)
{
    static const char text[] = "cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n";
    int64_t b = 0;
    assert_int_equal(sl_proc_btime_parse(text, sizeof(text) - 1, &b), 0);
    assert_int_equal(b, 1700000000);
    assert_int_equal(sl_proc_btime_parse("cpu 1\n", 6, &b), -EINVAL);
}

static double value_of(const char *text, const char *name)
{
    char key[96];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(text, key);
    assert_non_null(p);
    return strtod(p + strlen(key), NULL);
}

/* From this process: the values are plausible and the names and types are Prometheus' own. */
static void test_render_self(void **state)
{
    struct sl_buf out;
    sl_buf_init(&out);
    sl_proc_metrics_render(&out);
    assert_non_null(strstr(out.data, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(out.data, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_non_null(strstr(out.data, "# TYPE process_open_fds gauge\n"));
    assert_non_null(strstr(out.data, "# TYPE process_start_time_seconds gauge\n"));
    double rss = value_of(out.data, "process_resident_memory_bytes");
    assert_true(rss > 100 * 1024 && rss < 64.0 * 1024 * 1024 * 1024);
    double fds = value_of(out.data, "process_open_fds");
    int fd = dup(0);
    sl_buf_reset(&out);
    sl_proc_metrics_render(&out);
    assert_true(value_of(out.data, "process_open_fds") == fds + 1);
    close(fd);
    double start = value_of(out.data, "process_start_time_seconds");
    assert_true(start > 1.5e9 && start <= (double)time(NULL) + 1);
    sl_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stat_parse),
        cmocka_unit_test(test_btime_parse),
        cmocka_unit_test(test_render_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
