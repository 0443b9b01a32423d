/* A decoder for PostgreSQL's streaming replication copy data and the pgoutput logical
 * replication messages inside it (protocol version 1), with no allocation: every name and value
 * is a span into the message, valid as long as the message is.
 *
 * Formats: https://www.postgresql.org/docs/15/protocol-replication.html (XLogData 'w', primary
 * keepalive 'k', standby status update 'r') and
 * https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html (Begin, Commit,
 * Origin, Relation, Type, Insert, Update, Delete, Truncate). Integers are big-endian. Every
 * length is checked against the message: a short or inconsistent message is an error, never a
 * read past its end. */
#ifndef SL_SOURCES_POSTGRES_PGOUTPUT_H
#define SL_SOURCES_POSTGRES_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PostgreSQL's limit on the columns of a table (MaxTupleAttributeNumber). */
#define SL_PGO_MAX_COLS 1664

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC). */
#define SL_PGO_EPOCH_US 946684800000000LL

/* One frame of the replication copy stream. */
struct sl_pgo_frame {
    char kind;            /* 'w' XLogData, 'k' primary keepalive */
    uint64_t wal_start;   /* 'w': the LSN of the data */
    uint64_t wal_end;     /* the server's end of WAL ('k': how far it has sent) */
    int64_t send_time_us; /* the server's clock, PostgreSQL epoch */
    bool reply;           /* 'k': the server asks for a status update at once */
    const uint8_t *data;  /* 'w': the pgoutput message */
    size_t len;
};

/* A column value of a tuple. */
struct sl_pgo_value {
    char kind; /* 'n' null, 'u' unchanged TOASTed value (not sent), 't' text, 'b' binary */
    const char *data;
    uint32_t len;
};

struct sl_pgo_tuple {
    uint16_t n;
    struct sl_pgo_value *v; /* n values (storage owned by struct sl_pgo_msg) */
};

/* A column of a Relation message. */
struct sl_pgo_relcol {
    bool key; /* part of the replica identity */
    const char *name;
    uint32_t name_len;
    uint32_t type_oid;
    int32_t typmod;
};

struct sl_pgo_msg {
    char kind; /* 'B' 'C' 'O' 'R' 'Y' 'I' 'U' 'D' 'T' */
    /* B: final_lsn (the commit's LSN), time, xid. C: lsn (the commit's), end_lsn, time. */
    uint64_t lsn, end_lsn;
    int64_t time_us; /* PostgreSQL epoch */
    uint32_t xid;
    /* R, Y, I, U, D: the relation (or type) oid. */
    uint32_t relid;
    /* R: namespace and name; replident 'd' default, 'n' nothing, 'f' full, 'i' index. Y and O:
     * name holds the type's or origin's name. */
    const char *nspname, *name;
    uint32_t nspname_len, name_len;
    char replident;
    uint16_t ncols;
    struct sl_pgo_relcol *cols;
    /* I, U: new tuple. U, D: old tuple, 'K' (key columns only) or 'O' (the whole row), or 0. */
    struct sl_pgo_tuple newtup, oldtup;
    char old_kind;
    /* T: the relations truncated (the first up to SL_PGO_MAX_COLS of nrels), option bits. */
    uint32_t nrels;
    uint8_t trunc_flags;
    const char *error; /* why decoding failed (static text) */

    /* Storage for the arrays above: one decoder state per source (about 100 KB), reused. */
    struct sl_pgo_value newv[SL_PGO_MAX_COLS];
    struct sl_pgo_value oldv[SL_PGO_MAX_COLS];
    struct sl_pgo_relcol relcols[SL_PGO_MAX_COLS];
    uint32_t relids[SL_PGO_MAX_COLS];
};

/* Parses a copy-data frame. 0, or -EINVAL (f->kind is then what was seen). */
int sl_pgo_frame_parse(const uint8_t *buf, size_t len, struct sl_pgo_frame *f);
/* Decodes one pgoutput message into m. 0, or -EINVAL with m->error set (a malformed message)
 * or -ENOTSUP (a message kind protocol version 1 does not send; m->kind is that kind). */
int sl_pgo_decode(const uint8_t *buf, size_t len, struct sl_pgo_msg *m);

/* A standby status update ('r'): write, flush and apply positions, the client's clock (Unix
 * microseconds) and whether the server should answer at once. Fills out[34]; returns 34. */
#define SL_PGO_STATUS_LEN 34
size_t sl_pgo_status(uint8_t *out, uint64_t write_lsn, uint64_t flush_lsn, uint64_t apply_lsn,
                     int64_t now_unix_us, bool reply);

/* "16/B374D848": an LSN as PostgreSQL writes it. out needs 18 bytes. */
void sl_pgo_lsn_fmt(uint64_t lsn, char *out);
/* Parses "X/Y" (hex); 0 or -EINVAL. */
int sl_pgo_lsn_parse(const char *s, uint64_t *lsn);

#endif
