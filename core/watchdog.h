/* A last resort for a process that must end by a deadline: a thread that, unless it is stopped
 * first, logs one line naming what is still pending and ends the process with _exit(code) when
 * the deadline passes. The steps it watches bound themselves; it only catches what they could
 * not (a call that blocks where it was expected to return). */
#ifndef SL_CORE_WATCHDOG_H
#define SL_CORE_WATCHDOG_H

#include <stdint.h>

struct sl_watchdog;

/* Starts the thread. deadline_ms is on the sl_mono_ms clock; `what` (copied) heads the line
 * logged at the deadline, e.g. "shutdown did not finish within drain_timeout + 5 s". Returns 0
 * or a negative errno. */
int sl_watchdog_start(int64_t deadline_ms, int exit_code, const char *scope, const char *what,
                      struct sl_watchdog **out);
/* Sets what the process is doing now (named in the line if the deadline passes). Any thread. */
void sl_watchdog_note(struct sl_watchdog *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Stops and frees the watchdog before its deadline. NULL is fine. */
void sl_watchdog_stop(struct sl_watchdog *w);

#endif
