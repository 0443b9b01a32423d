/* Text log lines: a message cannot start a line of its own nor carry control bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* Runs one sl_log_write with stderr on a pipe; returns what was written. */
static void capture(const char *msg, char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    sl_log_write(SL_LOG_WARN, "scope", "%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], out, cap - 1);
    close(fds[0]);
    assert_true(n > 0);
    out[n] = '\0';
}

static void test_text_lines_escape_client_bytes(void **state)
{
    char line[4096];
    sl_log_setup(SL_LOG_DEBUG, SL_LOG_TEXT, "t");
    capture("path /a\nFAKE error injected\r\x1b[31m\xff\xfe caf\xc3\xa9\ttab", line, sizeof(line));
    const char *msg = strstr(line, "[scope] ");
    assert_non_null(msg);
    assert_string_equal(
        msg + 8, "path /a\\x0aFAKE error injected\\x0d\\x1b[31m\\xff\\xfe caf\xc3\xa9\ttab\n");
    /* One line, ending with the only newline. */
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_lines_escape_client_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
