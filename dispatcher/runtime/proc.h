/* A runtime's process: spawned in its own process group with its stdout and stderr on pipes,
 * watched through a pidfd (works on any libev loop, unlike ev_child, which needs the default
 * loop and a SIGCHLD handler). */
#ifndef SL_DISPATCHER_RUNTIME_PROC_H
#define SL_DISPATCHER_RUNTIME_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/err.h"

struct sl_rt_proc {
    pid_t pid;  /* also its process group id; 0 when reaped */
    int pidfd;  /* readable once the process has exited */
    int out_fd; /* read ends, non-blocking */
    int err_fd;
};

/* Starts argv[0] (searched in PATH) with envp in dir, stdin from /dev/null, default signal
 * dispositions and an empty signal mask. */
int sl_rt_proc_spawn(char *const argv[], char *const envp[], const char *dir, struct sl_rt_proc *p,
                     struct sl_err *err);
/* Sends sig to the process group (its children too). */
void sl_rt_proc_signal(const struct sl_rt_proc *p, int sig);
/* Reaps the process when it has exited (waits for it with block): 1 and *status when reaped,
 * 0 when still running. */
int sl_rt_proc_reap(struct sl_rt_proc *p, bool block, int *status);
/* Closes the descriptors. */
void sl_rt_proc_close(struct sl_rt_proc *p);
/* "exit status 2" / "signal: killed" (Lambda's wording for a runtime exit). */
void sl_rt_proc_describe_status(int status, char *out, size_t n);

/* Lines of a pipe: reads what is there and calls line() for each complete line; a line longer
 * than max is cut into pieces of max bytes. At EOF (or with flush) the rest is a line too.
 * Returns 1 at EOF, 0 otherwise. */
typedef void (*sl_rt_line_cb)(const char *line, size_t len, void *arg);
int sl_rt_lines_read(int fd, struct sl_buf *acc, size_t max, sl_rt_line_cb line, void *arg);
void sl_rt_lines_flush(struct sl_buf *acc, sl_rt_line_cb line, void *arg);

#endif
