/* sd_notify(3) protocol (https://www.freedesktop.org/software/systemd/man/sd_notify.html):
 * the state is sent as one datagram to the AF_UNIX socket in $NOTIFY_SOCKET, a file system
 * path, or an abstract socket name when it starts with '@' (that byte becomes NUL). */
#include "core/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sl_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !*name)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len > sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    /* A path must end in NUL inside sun_path; an abstract name is exactly len bytes long. */
    if (name[0] == '/' && len == sizeof(sa.sun_path))
        return -EINVAL;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t salen =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/' ? 1 : 0));
    ssize_t n;
    do {
        n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
    } while (n < 0 && errno == EINTR);
    int rc = n < 0 ? -errno : 1;
    close(fd);
    return rc;
}
