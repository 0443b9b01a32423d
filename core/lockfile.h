/* A lock file: an advisory lock (flock(2)) on a file that holds the PID of the process holding
 * it, so that a process refused can say which one owns the thing locked. The kernel drops the
 * lock when its holder exits, however it exits: a file left behind by a dead process is taken
 * over, never "stale". */
#ifndef SL_CORE_LOCKFILE_H
#define SL_CORE_LOCKFILE_H

#include <sys/types.h>

struct sl_lockfile;

/* Creates `path` if needed and locks it without waiting, then writes this process's PID into
 * it. Returns 0 with *out set; -EWOULDBLOCK when another open file holds the lock (another
 * process, or another sl_lockfile of this one), with *holder set to the PID written in the file
 * (0 when it cannot be read); or another negated errno (the file cannot be created or opened).
 * holder may be NULL. The file descriptor is close-on-exec: programs started later do not hold
 * the lock. */
int sl_lockfile_acquire(const char *path, struct sl_lockfile **out, pid_t *holder);
/* Unlocks and closes; the file stays (removing it would race with a process locking it).
 * NULL is fine. */
void sl_lockfile_release(struct sl_lockfile *lf);

#endif
