/* The service manager's readiness protocol (systemd's sd_notify(3)), without libsystemd: one
 * datagram of "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET. */
#ifndef SL_CORE_NOTIFY_H
#define SL_CORE_NOTIFY_H

/* Sends state (e.g. "READY=1", "STOPPING=1") to $NOTIFY_SOCKET. Returns 0 when the variable is
 * unset or empty (not run by a service manager that listens), 1 when the datagram was sent,
 * or a negative errno: -EINVAL for a name that is neither an absolute path nor an abstract
 * name ("@..."), or too long; the error of socket(2) or sendto(2) otherwise. */
int sl_notify(const char *state);

#endif
