/* A lock file: flock(2) on a file holding the holder's PID. See core/lockfile.h. */
#include "core/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"

/* A holder writes its PID right after it took the lock: a process refused in between reads an
 * empty file, and tries again for up to this long. */
#define LOCKFILE_PID_WAIT_MS 200

struct sl_lockfile {
    int fd;
};

/* The PID in the file open on fd when that process is alive, else 0 (a file being written, or
 * one a killed process left behind that a new holder has not yet rewritten). */
static pid_t read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (end == buf || (*end != '\n' && *end != '\0') || v <= 0)
        return 0;
    return kill((pid_t)v, 0) == 0 || errno == EPERM ? (pid_t)v : 0;
}

static pid_t wait_pid(int fd)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    pid_t pid = read_pid(fd);
    for (int waited = 0; pid == 0 && waited < LOCKFILE_PID_WAIT_MS; waited += 10) {
        nanosleep(&pause, NULL);
        pid = read_pid(fd);
    }
    return pid;
}

int sl_lockfile_acquire(const char *path, struct sl_lockfile **out, pid_t *holder)
{
    if (holder)
        *holder = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc;
    do
        rc = flock(fd, LOCK_EX | LOCK_NB);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int e = errno;
        if (e == EWOULDBLOCK && holder)
            *holder = wait_pid(fd);
        close(fd);
        return -e;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno ? errno : EIO;
        close(fd); /* drops the lock */
        return -e;
    }
    struct sl_lockfile *lf = SL_NEW(struct sl_lockfile);
    lf->fd = fd;
    *out = lf;
    return 0;
}

void sl_lockfile_release(struct sl_lockfile *lf)
{
    if (!lf)
        return;
    if (ftruncate(lf->fd, 0) < 0) {
        /* The PID stays; a process that locks the file next writes its own. */
    }
    close(lf->fd); /* the last descriptor of the open file: the lock goes with it */
    free(lf);
}
