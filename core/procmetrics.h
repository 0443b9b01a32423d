/* Prometheus' standard process metrics (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds),
 * read from /proc at scrape time. Names and units follow
 * https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics */
#ifndef SL_CORE_PROCMETRICS_H
#define SL_CORE_PROCMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct sl_proc_stat {
    double cpu_seconds;    /* utime + stime */
    double start_time_s;   /* since the epoch */
    double resident_bytes; /* rss pages * page size */
    double virtual_bytes;  /* vsize */
};

/* Parses the text of /proc/<pid>/stat (proc(5): the command name in parentheses may hold
 * spaces and parentheses, so the fields are counted from the last ')'). btime_s is the boot time
 * from /proc/stat. Returns 0, or -EINVAL when the text has too few fields. */
int sl_proc_stat_parse(const char *text, size_t len, long clk_tck, long page_size, int64_t btime_s,
                       struct sl_proc_stat *out);
/* The "btime" line of /proc/stat's text; -EINVAL when there is none. */
int sl_proc_btime_parse(const char *text, size_t len, int64_t *btime_s);

/* Appends the process metrics of this process (each left out when its /proc file cannot be
 * read). Reads a few small files: call it per scrape, never per record. */
void sl_proc_metrics_render(struct sl_buf *out);

#endif
