#include "core/procmetrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Fields of /proc/<pid>/stat counted from the one after the command name (field 3, state). */
#define STAT_UTIME     (14 - 3)
#define STAT_STIME     (15 - 3)
#define STAT_STARTTIME (22 - 3)
#define STAT_VSIZE     (23 - 3)
#define STAT_RSS       (24 - 3)

int sl_proc_stat_parse(const char *text, size_t len, long clk_tck, long page_size, int64_t btime_s,
                       struct sl_proc_stat *out)
{
    const char *end = text + len, *p = NULL;
    for (const char *q = text; q < end; q++)
        if (*q == ')')
            p = q;
    if (!p || clk_tck <= 0)
        return -EINVAL;
    p++;
    double f[STAT_RSS + 1];
    for (int i = 0; i <= STAT_RSS; i++) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p == '\n')
            return -EINVAL;
        const char *tok = p;
        while (p < end && *p != ' ' && *p != '\n')
            p++;
        char buf[32];
        size_t n = (size_t)(p - tok);
        if (n >= sizeof(buf))
            n = sizeof(buf) - 1;
        memcpy(buf, tok, n);
        buf[n] = '\0';
        f[i] = strtod(buf, NULL); /* the state letter reads as 0: unused */
    }
    out->cpu_seconds = (f[STAT_UTIME] + f[STAT_STIME]) / (double)clk_tck;
    out->start_time_s = (double)btime_s + f[STAT_STARTTIME] / (double)clk_tck;
    out->resident_bytes = f[STAT_RSS] * (double)page_size;
    out->virtual_bytes = f[STAT_VSIZE];
    return 0;
}

int sl_proc_btime_parse(const char *text, size_t len, int64_t *btime_s)
{
    const char *end = text + len;
    for (const char *p = text; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le - p > 6 && memcmp(p, "btime ", 6) == 0) {
            char buf[32];
            size_t n = (size_t)(le - p - 6);
            if (n >= sizeof(buf))
                return -EINVAL;
            memcpy(buf, p + 6, n);
            buf[n] = '\0';
            char *e;
            long long v = strtoll(buf, &e, 10);
            if (e == buf || v <= 0)
                return -EINVAL;
            *btime_s = v;
            return 0;
        }
        p = le + 1;
    }
    return -EINVAL;
}

/* Reads a whole small /proc file into buf; returns its length or -1. */
static ssize_t read_small(const char *path, struct sl_buf *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    sl_buf_reset(buf);
    for (;;) {
        char *dst = sl_buf_reserve(buf, 4096);
        ssize_t n = read(fd, dst, 4096);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return n < 0 ? -1 : (ssize_t)buf->len;
        }
        sl_buf_commit(buf, (size_t)n);
    }
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void gauge(struct sl_buf *out, const char *name, const char *type, const char *help,
                  double v)
{
    sl_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (v == floor(v) && fabs(v) < 1e15)
        sl_buf_printf(out, "%s %.0f\n", name, v);
    else
        sl_buf_printf(out, "%s %.6f\n", name, v);
}

void sl_proc_metrics_render(struct sl_buf *out)
{
    struct sl_buf b;
    sl_buf_init(&b);
    struct sl_proc_stat st;
    int64_t btime = 0;
    ssize_t n = read_small("/proc/stat", &b);
    bool have_btime = n > 0 && sl_proc_btime_parse(b.data, (size_t)n, &btime) == 0;
    n = read_small("/proc/self/stat", &b);
    if (n > 0 && sl_proc_stat_parse(b.data, (size_t)n, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE),
                                    btime, &st) == 0) {
        gauge(out, "process_cpu_seconds_total", "counter",
              "Total user and system CPU time spent in seconds.", st.cpu_seconds);
        gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
              st.resident_bytes);
        gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
              st.virtual_bytes);
        if (have_btime)
            gauge(out, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.", st.start_time_s);
    }
    sl_buf_release(&b);
    long fds = count_fds();
    if (fds >= 0)
        gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
              (double)rl.rlim_cur);
}
