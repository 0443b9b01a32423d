/* How the store notices that its files are gone or that its disk is full. See
 * core/store_fault.h. */
#include "core/store_fault.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include "core/err.h"

/* A failed write ends within this many bytes of the file size limit: one WAL frame (a page of
 * at most 64 KiB plus its 24-byte header, https://www.sqlite.org/fileformat2.html#walformat),
 * with room to spare. */
#define FAULT_FSIZE_SLACK (128 * 1024)

int sl_store_dir_id(const char *dir, struct sl_store_dir_id *out)
{
    struct stat sb;
    if (stat(dir, &sb) < 0)
        return -errno;
    out->dev = sb.st_dev;
    out->ino = sb.st_ino;
    return 0;
}

bool sl_store_files_lost(const char *dir, const struct sl_store_dir_id *id, sqlite3 *db,
                         const char **why)
{
    struct stat sb;
    if (stat(dir, &sb) < 0) {
        /* Other errors (EACCES, EIO, ENOMEM) do not say the directory is gone; the database
         * check below still looks at the file itself. */
        if (errno == ENOENT || errno == ENOTDIR) {
            *why = "the directory was deleted";
            return true;
        }
    } else if (sb.st_dev != id->dev || sb.st_ino != id->ino) {
        *why = "the directory was replaced by another one";
        return true;
    }
    /* SQLITE_FCNTL_HAS_MOVED writes whether the file "has been renamed, moved, or deleted
     * since it was first opened" (https://www.sqlite.org/c3ref/c_fcntl_begin_atomic_write.html);
     * the unix VFS compares the inode at the file's path with the open one. */
    int moved = 0;
    if (db && sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
        moved) {
        *why = "the database file was deleted, renamed or replaced";
        return true;
    }
    return false;
}

/* True when path's size is within FAULT_FSIZE_SLACK of limit. */
static bool near_limit(const char *path, rlim_t limit)
{
    struct stat sb;
    return stat(path, &sb) == 0 && (rlim_t)sb.st_size + FAULT_FSIZE_SLACK >= limit;
}

int sl_store_write_error(sqlite3 *db, const char *dir, const char *db_path, const char **note)
{
    const char *dummy;
    if (!note)
        note = &dummy;
    *note = "";
    int rc = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
    /* The unix VFS answers SQLITE_FULL when write(2) fails with ENOSPC or writes less than
     * asked (https://www.sqlite.org/rescode.html#full). */
    if ((rc & 0xff) == SQLITE_FULL) {
        *note = "the disk is full";
        return -ENOSPC;
    }
    if ((rc & 0xff) != SQLITE_IOERR)
        return SL_ESTORE;
    /* Other errnos of a write (EFBIG past the file size limit, EDQUOT) come back as
     * SQLITE_IOERR_WRITE, and sqlite3_system_errno() does not keep them reliably: look at the
     * disk and at the limit instead. */
    struct statvfs vs;
    if (dir && statvfs(dir, &vs) == 0 && vs.f_bavail == 0) {
        *note = "the disk is full";
        return -ENOSPC;
    }
    struct rlimit rl;
    if (db_path && getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        char wal[4096 + 8];
        snprintf(wal, sizeof(wal), "%s-wal", db_path);
        if (near_limit(db_path, rl.rlim_cur) || near_limit(wal, rl.rlim_cur)) {
            *note = "a store file reached the process's file size limit (RLIMIT_FSIZE, ulimit -f)";
            return -ENOSPC;
        }
    }
    return SL_ESTORE;
}
