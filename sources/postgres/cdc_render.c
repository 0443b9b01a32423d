/* A row change as the `dynamodb` object of a DynamoDB Streams record
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html),
 * written in one pass from the pgoutput tuple into the transaction's buffer. Column values
 * become typed attribute values
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_AttributeValue.html) by
 * the column's type oid (https://www.postgresql.org/docs/15/datatype-oid.html). */
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/jw.h"
#include "core/mem.h"
#include "core/utf8.h"
#include "sources/postgres/cdc_int.h"

/* Type oids (pg_type.dat; stable across PostgreSQL versions). */
#define OID_BOOL    16
#define OID_BYTEA   17
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_OID     26
#define OID_JSON    114
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700
#define OID_JSONB   3802

#define JSON_DEPTH_MAX 64

const char *const sl_pgcdc_event_names[] = {"INSERT", "MODIFY", "REMOVE"};

void sl_pgcdc_rel_init(struct sl_pgcdc_rel *rel, const struct sl_pgcdc_shared *sh,
                       const struct sl_pgo_msg *m, const char *endpoint)
{
    memset(rel, 0, sizeof(*rel));
    rel->sh = sh;
    rel->relid = m->relid;
    rel->replident = m->replident;
    size_t tl = m->nspname_len + 1 + m->name_len;
    rel->table = sl_malloc(tl + 1);
    memcpy(rel->table, m->nspname, m->nspname_len);
    rel->table[m->nspname_len] = '.';
    memcpy(rel->table + m->nspname_len + 1, m->name, m->name_len);
    rel->table[tl] = '\0';
    struct sl_buf b;
    sl_buf_init(&b);
    SL_BUF_LIT(&b, "postgres://");
    sl_buf_puts(&b, endpoint);
    sl_buf_putc(&b, '/');
    sl_buf_puts(&b, rel->table);
    SL_BUF_LIT(&b, "/stream/");
    sl_buf_puts(&b, sh->slot);
    rel->arn_json = sl_json_text(b.data);
    sl_buf_release(&b);
    rel->table_json = sl_json_text(rel->table);
    rel->ncols = m->ncols;
    rel->cols = sl_calloc(m->ncols ? m->ncols : 1, sizeof(*rel->cols));
    for (uint16_t i = 0; i < m->ncols; i++) {
        struct sl_buf n;
        sl_buf_init(&n);
        sl_json_escape(&n, m->cols[i].name, m->cols[i].name_len);
        rel->cols[i].name_json = sl_buf_steal(&n, NULL);
        rel->cols[i].type_oid = m->cols[i].type_oid;
        rel->cols[i].key = m->cols[i].key;
    }
}

void sl_pgcdc_rel_release(struct sl_pgcdc_rel *rel)
{
    if (!rel)
        return;
    for (uint16_t i = 0; i < rel->ncols; i++)
        free(rel->cols[i].name_json);
    free(rel->cols);
    free(rel->table);
    free(rel->arn_json);
    free(rel->table_json);
}

void sl_pgcdc_rel_retire(struct sl_pgcdc_rel *rel)
{
    rel->retired = true;
    rel->next = NULL;
    if (rel->refs == 0) {
        sl_pgcdc_rel_release(rel);
        free(rel);
    }
}

void sl_pgcdc_rel_unref(struct sl_pgcdc_rel *rel)
{
    if (rel && --rel->refs == 0 && rel->retired) {
        sl_pgcdc_rel_release(rel);
        free(rel);
    }
}

/* ---- JSON text to attribute values ---- */

struct jcur {
    const char *p, *end;
};

static void skip_ws(struct jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int hexval(char ch);

/* The code unit of \uXXXX at p (6 bytes), or -1. */
static long json_u(const char *p, size_t left)
{
    if (left < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Bytes of the escape after a backslash at p (n left), or 0 when it is not one JSON allows (a
 * \u surrogate must come in a pair, as PostgreSQL and jansson also insist). */
static size_t json_escape_len(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (strchr("\"\\/bfnrt", *p) && *p)
        return 1;
    long u = json_u(p - 1, n + 1);
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return 0;
    if (u >= 0xD800 && u <= 0xDBFF) {
        long lo = json_u(p + 5, n - 5 < n ? n - 5 : 0);
        return lo >= 0xDC00 && lo <= 0xDFFF ? 11 : 0;
    }
    return 5;
}

/* A JSON string token at c->p; appends it verbatim (it is JSON text already). */
static bool jstring(struct jcur *c, struct sl_buf *out)
{
    const char *s = c->p;
    if (c->p >= c->end || *c->p != '"')
        return false;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20)
            return false;
        if (ch >= 0x80) {
            /* Copied as it is, so it must be UTF-8 (PostgreSQL checks it in a UTF8 database;
             * anything else falls back to S, where the escaper replaces bad bytes). */
            size_t n = sl_utf8_multi((const unsigned char *)c->p, (size_t)(c->end - c->p));
            if (n == 0)
                return false;
            c->p += n;
            continue;
        }
        if (ch == '\\') {
            size_t n = json_escape_len(c->p + 1, (size_t)(c->end - c->p - 1));
            if (n == 0)
                return false;
            c->p += 1 + n;
            continue;
        }
        c->p++;
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    sl_buf_append(out, s, (size_t)(c->p - s));
    return true;
}

/* A character of a number's text (strchr would also match the NUL). */
static bool num_char(char ch)
{
    return (ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' ||
           ch == '-';
}

static bool jnumber(struct jcur *c, struct sl_buf *out)
{
    const char *s = c->p;
    while (c->p < c->end && num_char(*c->p))
        c->p++;
    if (c->p == s)
        return false;
    SL_BUF_LIT(out, "{\"N\":\"");
    sl_buf_append(out, s, (size_t)(c->p - s));
    SL_BUF_LIT(out, "\"}");
    return true;
}

static bool jlit(struct jcur *c, const char *lit, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool jvalue(struct jcur *c, struct sl_buf *out, int depth)
{
    if (depth > JSON_DEPTH_MAX)
        return false;
    skip_ws(c);
    if (c->p >= c->end)
        return false;
    switch (*c->p) {
    case '"':
        SL_BUF_LIT(out, "{\"S\":");
        if (!jstring(c, out))
            return false;
        sl_buf_putc(out, '}');
        return true;
    case 't':
        SL_BUF_LIT(out, "{\"BOOL\":true}");
        return jlit(c, "true", 4);
    case 'f':
        SL_BUF_LIT(out, "{\"BOOL\":false}");
        return jlit(c, "false", 5);
    case 'n':
        SL_BUF_LIT(out, "{\"NULL\":true}");
        return jlit(c, "null", 4);
    case '{': {
        c->p++;
        SL_BUF_LIT(out, "{\"M\":{");
        skip_ws(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            SL_BUF_LIT(out, "}}");
            return true;
        }
        for (;;) {
            skip_ws(c);
            if (!jstring(c, out))
                return false;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return false;
            c->p++;
            sl_buf_putc(out, ':');
            if (!jvalue(c, out, depth + 1))
                return false;
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                sl_buf_putc(out, ',');
                continue;
            }
            if (c->p < c->end && *c->p == '}') {
                c->p++;
                SL_BUF_LIT(out, "}}");
                return true;
            }
            return false;
        }
    }
    case '[': {
        c->p++;
        SL_BUF_LIT(out, "{\"L\":[");
        skip_ws(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            SL_BUF_LIT(out, "]}");
            return true;
        }
        for (;;) {
            if (!jvalue(c, out, depth + 1))
                return false;
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                sl_buf_putc(out, ',');
                continue;
            }
            if (c->p < c->end && *c->p == ']') {
                c->p++;
                SL_BUF_LIT(out, "]}");
                return true;
            }
            return false;
        }
    }
    default:
        return jnumber(c, out);
    }
}

static void put_s(struct sl_buf *out, const char *s, size_t n)
{
    SL_BUF_LIT(out, "{\"S\":");
    sl_json_escape(out, s, n);
    sl_buf_putc(out, '}');
}

void sl_pgcdc_json_value(const char *s, size_t n, struct sl_buf *out)
{
    size_t at = out->len;
    struct jcur c = {.p = s, .end = s + n};
    if (jvalue(&c, out, 0)) {
        skip_ws(&c);
        if (c.p == c.end)
            return;
    }
    out->len = at;
    put_s(out, s, n);
}

/* ---- column values ---- */

/* PostgreSQL's numeric output that JSON can carry as a number string (not NaN, Infinity). */
static bool plain_number(const char *s, size_t n)
{
    if (n == 0)
        return false;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i >= n || !((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
        return false;
    for (; i < n; i++) {
        if (!num_char(s[i]))
            return false;
    }
    return true;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* bytea's text output in the hex format (bytea_output = hex, the default): "\x0a0b". */
static void put_bytea(const char *s, size_t n, struct sl_buf *scratch, struct sl_buf *out)
{
    if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2 != 0) {
        put_s(out, s, n);
        return;
    }
    sl_buf_reset(scratch);
    char *d = sl_buf_reserve(scratch, (n - 2) / 2 + 1);
    size_t k = 0;
    for (size_t i = 2; i + 1 < n; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0) {
            put_s(out, s, n);
            return;
        }
        d[k++] = (char)(hi << 4 | lo);
    }
    SL_BUF_LIT(out, "{\"B\":\"");
    char *e = sl_buf_reserve(out, (k + 2) / 3 * 4 + 1);
    sl_buf_commit(out, sl_b64_encode(d, k, e));
    SL_BUF_LIT(out, "\"}");
}

void sl_pgcdc_value(uint32_t type_oid, const struct sl_pgo_value *v, struct sl_buf *scratch,
                    struct sl_buf *out)
{
    if (v->kind == 'n') {
        SL_BUF_LIT(out, "{\"NULL\":true}");
        return;
    }
    if (v->kind == 'b') { /* binary format is never asked for; kept exact if it comes */
        SL_BUF_LIT(out, "{\"B\":\"");
        char *e = sl_buf_reserve(out, ((size_t)v->len + 2) / 3 * 4 + 1);
        sl_buf_commit(out, sl_b64_encode(v->data, v->len, e));
        SL_BUF_LIT(out, "\"}");
        return;
    }
    switch (type_oid) {
    case OID_BOOL:
        if (v->len == 1 && (v->data[0] == 't' || v->data[0] == 'f')) {
            if (v->data[0] == 't')
                SL_BUF_LIT(out, "{\"BOOL\":true}");
            else
                SL_BUF_LIT(out, "{\"BOOL\":false}");
            return;
        }
        break;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC:
        if (plain_number(v->data, v->len)) {
            SL_BUF_LIT(out, "{\"N\":\"");
            sl_buf_append(out, v->data, v->len);
            SL_BUF_LIT(out, "\"}");
            return;
        }
        break;
    case OID_JSON:
    case OID_JSONB:
        sl_pgcdc_json_value(v->data, v->len, out);
        return;
    case OID_BYTEA:
        put_bytea(v->data, v->len, scratch, out);
        return;
    default:
        break;
    }
    put_s(out, v->data, v->len);
}

/* An image: {"col":value,...}; keys_only keeps the replica identity columns. An unchanged
 * TOASTed value ('u': PostgreSQL did not send it) is taken from the old row when that came
 * whole (REPLICA IDENTITY FULL), else left out. */
static void put_image(const struct sl_pgcdc_rel *rel, const struct sl_pgo_tuple *t,
                      const struct sl_pgo_tuple *old, bool keys_only, struct sl_buf *scratch,
                      struct sl_buf *out)
{
    sl_buf_putc(out, '{');
    bool first = true;
    for (uint16_t i = 0; i < t->n && i < rel->ncols; i++) {
        const struct sl_pgcdc_col *col = &rel->cols[i];
        const struct sl_pgo_value *v = &t->v[i];
        if (v->kind == 'u' && old && i < old->n)
            v = &old->v[i];
        if ((keys_only && !col->key) || v->kind == 'u')
            continue;
        if (!first)
            sl_buf_putc(out, ',');
        first = false;
        sl_buf_puts(out, col->name_json);
        sl_buf_putc(out, ':');
        sl_pgcdc_value(col->type_oid, v, scratch, out);
    }
    sl_buf_putc(out, '}');
}

enum sl_pgcdc_event sl_pgcdc_render(const struct sl_pgcdc_rel *rel, const struct sl_pgo_msg *m,
                                    uint64_t seqno, int64_t commit_s, struct sl_buf *scratch,
                                    struct sl_buf *out)
{
    enum sl_pgcdc_event ev = m->kind == 'I'   ? SL_PGCDC_INSERT
                             : m->kind == 'U' ? SL_PGCDC_MODIFY
                                              : SL_PGCDC_REMOVE;
    /* FULL: the whole old row comes with updates and deletes, so both images are there. Any
     * other identity sends at most the key columns of the old row: the new image only. */
    bool full = rel->replident == 'f';
    SL_BUF_LIT(out, "{\"ApproximateCreationDateTime\":");
    sl_buf_put_i64(out, commit_s);
    SL_BUF_LIT(out, ",\"Keys\":");
    size_t start = out->len;
    /* Keys: of the new row, or of the old one for a delete. */
    const struct sl_pgo_tuple *whole_old = m->old_kind == 'O' ? &m->oldtup : NULL;
    const struct sl_pgo_tuple *kt = ev == SL_PGCDC_REMOVE ? &m->oldtup : &m->newtup;
    put_image(rel, kt, ev == SL_PGCDC_REMOVE ? NULL : whole_old, true, scratch, out);
    if (ev != SL_PGCDC_REMOVE) {
        SL_BUF_LIT(out, ",\"NewImage\":");
        put_image(rel, &m->newtup, whole_old, false, scratch, out);
    }
    if (full && whole_old) {
        SL_BUF_LIT(out, ",\"OldImage\":");
        put_image(rel, whole_old, NULL, false, scratch, out);
    }
    size_t size = out->len - start;
    SL_BUF_LIT(out, ",\"SequenceNumber\":\"");
    sl_buf_put_u64(out, seqno);
    SL_BUF_LIT(out, "\",\"SizeBytes\":");
    sl_buf_put_u64(out, size);
    if (full)
        SL_BUF_LIT(out, ",\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}");
    else
        SL_BUF_LIT(out, ",\"StreamViewType\":\"NEW_IMAGE\"}");
    return ev;
}
