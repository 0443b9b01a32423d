/* The pgoutput decoder: a cursor over one message that refuses to read past its end. */
#include "sources/postgres/pgoutput.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct rd {
    const uint8_t *p, *end;
    bool bad;
};

static bool need(struct rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint8_t u8(struct rd *r)
{
    if (!need(r, 1))
        return 0;
    return *r->p++;
}

static uint16_t u16(struct rd *r)
{
    if (!need(r, 2))
        return 0;
    uint16_t v = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return v;
}

static uint32_t u32(struct rd *r)
{
    if (!need(r, 4))
        return 0;
    uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
                 (uint32_t)r->p[3];
    r->p += 4;
    return v;
}

static uint64_t u64(struct rd *r)
{
    uint64_t hi = u32(r);
    uint64_t lo = u32(r);
    return hi << 32 | lo;
}

/* A NUL-terminated string (names in pgoutput are C strings). */
static const char *cstr(struct rd *r, uint32_t *len)
{
    if (r->bad)
        return "";
    const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
    if (!nul) {
        r->bad = true;
        *len = 0;
        return "";
    }
    const char *s = (const char *)r->p;
    *len = (uint32_t)(nul - r->p);
    r->p = nul + 1;
    return s;
}

int sl_pgo_frame_parse(const uint8_t *buf, size_t len, struct sl_pgo_frame *f)
{
    struct rd r = {.p = buf, .end = buf + len};
    memset(f, 0, sizeof(*f));
    f->kind = (char)u8(&r);
    if (f->kind == 'w') {
        f->wal_start = u64(&r);
        f->wal_end = u64(&r);
        f->send_time_us = (int64_t)u64(&r);
        if (r.bad)
            return -EINVAL;
        f->data = r.p;
        f->len = (size_t)(r.end - r.p);
        return 0;
    }
    if (f->kind == 'k') {
        f->wal_end = u64(&r);
        f->send_time_us = (int64_t)u64(&r);
        f->reply = u8(&r) != 0;
        return r.bad ? -EINVAL : 0;
    }
    return -EINVAL;
}

static int tuple(struct rd *r, struct sl_pgo_tuple *t, struct sl_pgo_value *store)
{
    uint16_t n = u16(r);
    if (r->bad || n > SL_PGO_MAX_COLS)
        return -1;
    t->n = n;
    t->v = store;
    for (uint16_t i = 0; i < n; i++) {
        struct sl_pgo_value *v = &store[i];
        v->kind = (char)u8(r);
        v->data = NULL;
        v->len = 0;
        switch (v->kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b': {
            uint32_t l = u32(r);
            if (l > INT32_MAX || !need(r, l))
                return -1;
            v->data = (const char *)r->p;
            v->len = l;
            r->p += l;
            break;
        }
        default:
            return -1;
        }
        if (r->bad)
            return -1;
    }
    return 0;
}

static int fail(struct sl_pgo_msg *m, const char *why)
{
    m->error = why;
    return -EINVAL;
}

static int decode_relation(struct rd *r, struct sl_pgo_msg *m)
{
    m->relid = u32(r);
    m->nspname = cstr(r, &m->nspname_len);
    m->name = cstr(r, &m->name_len);
    m->replident = (char)u8(r);
    uint16_t n = u16(r);
    if (r->bad)
        return fail(m, "short Relation message");
    if (n > SL_PGO_MAX_COLS)
        return fail(m, "Relation message with more columns than PostgreSQL allows");
    if (m->replident != 'd' && m->replident != 'n' && m->replident != 'f' && m->replident != 'i')
        return fail(m, "Relation message with an unknown replica identity");
    m->ncols = n;
    m->cols = m->relcols;
    for (uint16_t i = 0; i < n; i++) {
        struct sl_pgo_relcol *c = &m->relcols[i];
        c->key = (u8(r) & 1) != 0;
        c->name = cstr(r, &c->name_len);
        c->type_oid = u32(r);
        c->typmod = (int32_t)u32(r);
        if (r->bad)
            return fail(m, "short Relation message");
    }
    return 0;
}

int sl_pgo_decode(const uint8_t *buf, size_t len, struct sl_pgo_msg *m)
{
    struct rd r = {.p = buf, .end = buf + len};
    m->error = NULL;
    m->kind = (char)u8(&r);
    m->old_kind = 0;
    m->newtup.n = m->oldtup.n = 0;
    m->newtup.v = m->newv;
    m->oldtup.v = m->oldv;
    if (r.bad)
        return fail(m, "empty message");
    switch (m->kind) {
    case 'B':
        m->lsn = u64(&r);
        m->time_us = (int64_t)u64(&r);
        m->xid = u32(&r);
        break;
    case 'C':
        (void)u8(&r); /* flags: none defined */
        m->lsn = u64(&r);
        m->end_lsn = u64(&r);
        m->time_us = (int64_t)u64(&r);
        break;
    case 'O':
        m->lsn = u64(&r);
        m->name = cstr(&r, &m->name_len);
        break;
    case 'R':
        return decode_relation(&r, m);
    case 'Y':
        m->relid = u32(&r);
        m->nspname = cstr(&r, &m->nspname_len);
        m->name = cstr(&r, &m->name_len);
        break;
    case 'I':
        m->relid = u32(&r);
        if (u8(&r) != 'N' || r.bad)
            return fail(m, "Insert message without its new tuple");
        if (tuple(&r, &m->newtup, m->newv) < 0)
            return fail(m, "malformed tuple in an Insert message");
        break;
    case 'U': {
        m->relid = u32(&r);
        uint8_t k = u8(&r);
        if (k == 'K' || k == 'O') {
            m->old_kind = (char)k;
            if (tuple(&r, &m->oldtup, m->oldv) < 0)
                return fail(m, "malformed old tuple in an Update message");
            k = u8(&r);
        }
        if (k != 'N' || r.bad)
            return fail(m, "Update message without its new tuple");
        if (tuple(&r, &m->newtup, m->newv) < 0)
            return fail(m, "malformed tuple in an Update message");
        break;
    }
    case 'D': {
        m->relid = u32(&r);
        uint8_t k = u8(&r);
        if ((k != 'K' && k != 'O') || r.bad)
            return fail(m, "Delete message without its old tuple");
        m->old_kind = (char)k;
        if (tuple(&r, &m->oldtup, m->oldv) < 0)
            return fail(m, "malformed tuple in a Delete message");
        break;
    }
    case 'T': {
        m->nrels = u32(&r);
        m->trunc_flags = u8(&r);
        if (r.bad || m->nrels > (uint32_t)(r.end - r.p) / 4)
            return fail(m, "short Truncate message");
        for (uint32_t i = 0; i < m->nrels; i++) {
            uint32_t id = u32(&r);
            if (i < SL_PGO_MAX_COLS)
                m->relids[i] = id;
        }
        break;
    }
    default:
        m->error = "a message kind protocol version 1 does not send";
        return -ENOTSUP;
    }
    if (r.bad)
        return fail(m, "short message");
    return 0;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

size_t sl_pgo_status(uint8_t *out, uint64_t write_lsn, uint64_t flush_lsn, uint64_t apply_lsn,
                     int64_t now_unix_us, bool reply)
{
    out[0] = 'r';
    put64(out + 1, write_lsn);
    put64(out + 9, flush_lsn);
    put64(out + 17, apply_lsn);
    put64(out + 25, (uint64_t)(now_unix_us - SL_PGO_EPOCH_US));
    out[33] = reply ? 1 : 0;
    return SL_PGO_STATUS_LEN;
}

void sl_pgo_lsn_fmt(uint64_t lsn, char *out)
{
    snprintf(out, 18, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

int sl_pgo_lsn_parse(const char *s, uint64_t *lsn)
{
    unsigned hi, lo;
    int n = 0;
    if (!s || sscanf(s, "%8X/%8X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
        return -EINVAL;
    *lsn = (uint64_t)hi << 32 | lo;
    return 0;
}
