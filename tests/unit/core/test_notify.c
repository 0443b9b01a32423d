/* core/notify: the sd_notify(3) datagram reaches a real AF_UNIX socket, by path or abstract. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/notify.h"

/* A datagram socket bound to name ("/path" or "@abstract"), as the service manager has. */
static int listener(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    assert_true(len < sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, len);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    else
        salen++;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, salen), 0);
    return fd;
}

/* The one datagram waiting on fd (fails when there is none). */
static void expect_datagram(int fd, const char *want)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
    assert_true(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN);
}

static void test_unset_is_a_no_op(void **state)
{
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sl_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sl_notify("READY=1"), 0);
    unsetenv("NOTIFY_SOCKET");
}

static void test_path_socket(void **state)
{
    char dir[] = "/tmp/sl-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/notify", dir);
    int fd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sl_notify("READY=1"), 1);
    expect_datagram(fd, "READY=1");
    assert_int_equal(sl_notify("STOPPING=1"), 1);
    expect_datagram(fd, "STOPPING=1");
    close(fd);
    unlink(path);
    /* Nobody listens there any more. */
    assert_int_equal(sl_notify("READY=1"), -ENOENT);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
    char name[64];
    snprintf(name, sizeof(name), "@sl-notify-test-%d", (int)getpid());
    int fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(sl_notify("READY=1\nSTATUS=serving"), 1);
    expect_datagram(fd, "READY=1\nSTATUS=serving");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_bad_names(void **state)
{
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    assert_int_equal(sl_notify("READY=1"), -EINVAL);
    setenv("NOTIFY_SOCKET", "@", 1);
    assert_int_equal(sl_notify("READY=1"), -EINVAL);
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    assert_int_equal(sl_notify("READY=1"), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unset_is_a_no_op),
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_bad_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
