/* Spawning and watching a runtime's process. */
#include "dispatcher/runtime/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int sl_rt_proc_spawn(char *const argv[], char *const envp[], const char *dir, struct sl_rt_proc *p,
                     struct sl_err *err)
{
    p->pid = 0;
    p->pidfd = p->out_fd = p->err_fd = -1;
    /* The write ends stay blocking (the handler's stdout must not see EAGAIN); only our read
     * ends are made non-blocking, as each end is its own open file description. */
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        int e = errno;
        close_fd(&out[0]);
        close_fd(&out[1]);
        return sl_err_set(err, SL_ERR_TRANSIENT, -e, "pipe: %s", strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    if (dir)
        posix_spawn_file_actions_addchdir_np(&fa, dir);
    /* Nothing else of sluice's (or what sluice inherited without close-on-exec). */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, defs;
    sigemptyset(&none);
    sigemptyset(&defs);
    int defaulted[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGXFSZ, SIGQUIT, SIGUSR1};
    for (size_t i = 0; i < sizeof(defaulted) / sizeof(defaulted[0]); i++)
        sigaddset(&defs, defaulted[i]);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &defs);
    posix_spawnattr_setpgroup(&at, 0); /* its own group: a timeout kills its children too */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close_fd(&out[1]);
    close_fd(&errp[1]);
    if (rc != 0) {
        close_fd(&out[0]);
        close_fd(&errp[0]);
        return sl_err_set(err, SL_ERR_PERMANENT, -rc, "cannot start %s in %s: %s", argv[0],
                          dir ? dir : ".", strerror(rc));
    }
    p->pid = pid;
    p->out_fd = out[0];
    p->err_fd = errp[0];
    fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
    fcntl(p->err_fd, F_SETFL, fcntl(p->err_fd, F_GETFL) | O_NONBLOCK);
    p->pidfd = pidfd_open_(pid);
    if (p->pidfd < 0) {
        int e = errno;
        sl_rt_proc_signal(p, SIGKILL);
        int st;
        sl_rt_proc_reap(p, true, &st);
        sl_rt_proc_close(p);
        return sl_err_set(err, SL_ERR_PERMANENT, -e, "pidfd_open: %s", strerror(e));
    }
    fcntl(p->pidfd, F_SETFD, FD_CLOEXEC);
    return 0;
}

void sl_rt_proc_signal(const struct sl_rt_proc *p, int sig)
{
    if (p->pid > 0)
        kill(-p->pid, sig);
}

int sl_rt_proc_reap(struct sl_rt_proc *p, bool block, int *status)
{
    if (p->pid <= 0)
        return 1;
    pid_t r;
    do {
        r = waitpid(p->pid, status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r < 0) /* reaped elsewhere: nothing to wait for */
        *status = 0;
    p->pid = 0;
    return 1;
}

void sl_rt_proc_close(struct sl_rt_proc *p)
{
    close_fd(&p->pidfd);
    close_fd(&p->out_fd);
    close_fd(&p->err_fd);
}

void sl_rt_proc_describe_status(int status, char *out, size_t n)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(out, n, "signal: %s", sig == SIGKILL ? "killed" : strsignal(sig));
    } else {
        snprintf(out, n, "exit status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

void sl_rt_lines_flush(struct sl_buf *acc, sl_rt_line_cb line, void *arg)
{
    if (acc->len > 0)
        line(acc->data, acc->len, arg);
    sl_buf_reset(acc);
}

int sl_rt_lines_read(int fd, struct sl_buf *acc, size_t max, sl_rt_line_cb line, void *arg)
{
    for (int rounds = 0; rounds < 16; rounds++) { /* bounded: other watchers get their turn */
        char *dst = sl_buf_reserve(acc, 4096);
        ssize_t n = read(fd, dst, 4096);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0) {
            sl_rt_lines_flush(acc, line, arg);
            return 1;
        }
        sl_buf_commit(acc, (size_t)n);
        size_t start = 0;
        for (size_t i = 0; i < acc->len; i++) {
            if (acc->data[i] == '\n' || i - start >= max) {
                size_t len = i - start;
                line(acc->data + start, len, arg);
                start = acc->data[i] == '\n' ? i + 1 : i;
            }
        }
        sl_buf_consume(acc, start);
    }
    return 0;
}
