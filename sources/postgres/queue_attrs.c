/* MD5 (RFC 1321), for SQS's md5OfBody and md5OfMessageAttributes: a small implementation that
 * allocates nothing (libcrypto's one-shot MD5() is deprecated and its EVP interface allocates a
 * context per digest), and SQS messageAttributes made from the attributes column.
 * md5OfMessageAttributes follows SQS's documented algorithm
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html#sqs-attributes-md5-message-digest-calculation):
 * attributes sorted by name; for each, the name, the data type (each as a 4-byte big-endian
 * length and its UTF-8 bytes), one transport byte (1 String/Number, 2 Binary) and the value
 * (length and bytes: the string's UTF-8, or the decoded binary). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/jw.h"
#include "core/mem.h"
#include "sources/postgres/queue_int.h"

static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const unsigned char md5_s[64] = {
    7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 5,  9,  14, 20, 5,  9,
    14, 20, 5,  9,  14, 20, 5,  9,  14, 20, 4,  11, 16, 23, 4,  11, 16, 23, 4,  11, 16, 23,
    4,  11, 16, 23, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21,
};

static void md5_block(struct sl_pgq_md5 *m, const unsigned char *p)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 | (uint32_t)p[i * 4 + 2] << 16 |
               (uint32_t)p[i * 4 + 3] << 24;
    uint32_t a = m->a, b = m->b, c = m->c, d = m->d;
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16) {
            f = (b & c) | (~b & d);
            g = i;
        } else if (i < 32) {
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
        } else if (i < 48) {
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
        } else {
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
        }
        uint32_t x = a + f + md5_k[i] + w[g];
        a = d;
        d = c;
        c = b;
        b = b + ((x << md5_s[i]) | (x >> (32 - md5_s[i])));
    }
    m->a += a;
    m->b += b;
    m->c += c;
    m->d += d;
}

void sl_pgq_md5_init(struct sl_pgq_md5 *m)
{
    m->a = 0x67452301;
    m->b = 0xefcdab89;
    m->c = 0x98badcfe;
    m->d = 0x10325476;
    m->len = 0;
}

void sl_pgq_md5_update(struct sl_pgq_md5 *m, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t have = (size_t)(m->len & 63);
    m->len += n;
    if (have) {
        size_t take = 64 - have < n ? 64 - have : n;
        memcpy(m->block + have, p, take);
        p += take;
        n -= take;
        if (have + take < 64)
            return;
        md5_block(m, m->block);
    }
    for (; n >= 64; p += 64, n -= 64)
        md5_block(m, p);
    if (n)
        memcpy(m->block, p, n);
}

void sl_pgq_md5_final(struct sl_pgq_md5 *m, unsigned char out[16])
{
    uint64_t bits = m->len * 8;
    size_t have = (size_t)(m->len & 63);
    m->block[have++] = 0x80;
    if (have > 56) {
        memset(m->block + have, 0, 64 - have);
        md5_block(m, m->block);
        have = 0;
    }
    memset(m->block + have, 0, 56 - have);
    for (int i = 0; i < 8; i++)
        m->block[56 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(m, m->block);
    const uint32_t words[4] = {m->a, m->b, m->c, m->d};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++)
            out[i * 4 + k] = (unsigned char)(words[i] >> (8 * k));
}

void sl_pgq_md5(const void *data, size_t n, unsigned char out[16])
{
    struct sl_pgq_md5 m;
    sl_pgq_md5_init(&m);
    sl_pgq_md5_update(&m, data, n);
    sl_pgq_md5_final(&m, out);
}

void sl_pgq_hex(const unsigned char md5[16], char out[32])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[i * 2] = digits[md5[i] >> 4];
        out[i * 2 + 1] = digits[md5[i] & 15];
    }
}

/* ---- messageAttributes ---- */

static void md5_field(struct sl_pgq_md5 *m, const void *p, size_t n)
{
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    sl_pgq_md5_update(m, len, 4);
    sl_pgq_md5_update(m, p, n);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A number's text: integers exactly; reals in the shortest of %.15g and %.17g that reads back
 * the same value. */
static void number_text(json_t *v, char *out, size_t cap)
{
    if (json_is_integer(v)) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        return;
    }
    double d = json_real_value(v);
    snprintf(out, cap, "%.15g", d);
    if (strtod(out, NULL) != d)
        snprintf(out, cap, "%.17g", d);
}

/* One attribute: its data type, whether it is binary, and its value (a string the caller
 * frees when *owned). */
struct mattr {
    const char *name;
    const char *type;
    bool binary;
    const char *value;
    size_t value_len;
    char *owned;
};

static void mattr_of(const char *name, json_t *v, struct mattr *a)
{
    char num[64];
    memset(a, 0, sizeof(*a));
    a->name = name;
    a->type = "String";
    json_t *dt = json_is_object(v) ? json_object_get(v, "dataType") : NULL;
    if (json_is_string(dt)) {
        a->type = json_string_value(dt);
        a->binary = strncmp(a->type, "Binary", 6) == 0;
        json_t *val = json_object_get(v, a->binary ? "binaryValue" : "stringValue");
        if (json_is_string(val)) {
            a->value = json_string_value(val);
            a->value_len = json_string_length(val);
        } else if (json_is_number(val)) {
            number_text(val, num, sizeof(num));
            a->owned = sl_strdup(num);
        } else {
            a->value = "";
        }
    } else if (json_is_string(v)) {
        a->value = json_string_value(v);
        a->value_len = json_string_length(v);
    } else if (json_is_number(v)) {
        a->type = "Number";
        number_text(v, num, sizeof(num));
        a->owned = sl_strdup(num);
    } else if (json_is_boolean(v)) {
        a->value = json_is_true(v) ? "true" : "false";
    } else {
        a->owned = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!a->owned)
            a->owned = sl_strdup("");
    }
    if (a->owned) {
        a->value = a->owned;
        a->value_len = strlen(a->owned);
    } else if (a->value && !a->value_len) {
        a->value_len = strlen(a->value);
    }
}

int sl_pgq_message_attrs(const char *json, size_t len, struct sl_buf *out, unsigned char md5[16])
{
    json_t *doc = json ? json_loadb(json, len, 0, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        SL_BUF_LIT(out, "{}");
        return json ? -1 : 0;
    }
    size_t cap = json_object_size(doc), n = 0;
    const char **keys = sl_calloc(cap ? cap : 1, sizeof(*keys));
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (!json_is_null(v))
            keys[n++] = k;
    }
    qsort(keys, n, sizeof(*keys), key_cmp);
    struct sl_pgq_md5 m;
    sl_pgq_md5_init(&m);
    sl_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        struct mattr a;
        mattr_of(keys[i], json_object_get(doc, keys[i]), &a);
        if (i)
            sl_buf_putc(out, ',');
        sl_json_escape(out, a.name, strlen(a.name));
        if (a.binary)
            SL_BUF_LIT(out, ":{\"binaryValue\":");
        else
            SL_BUF_LIT(out, ":{\"stringValue\":");
        sl_json_escape(out, a.value, a.value_len);
        SL_BUF_LIT(out, ",\"stringListValues\":[],\"binaryListValues\":[],\"dataType\":");
        sl_json_escape(out, a.type, strlen(a.type));
        sl_buf_putc(out, '}');

        md5_field(&m, a.name, strlen(a.name));
        md5_field(&m, a.type, strlen(a.type));
        unsigned char transport = a.binary ? 2 : 1;
        sl_pgq_md5_update(&m, &transport, 1);
        if (a.binary) {
            unsigned char *raw = sl_malloc(a.value_len / 4 * 3 + 4);
            long rn = sl_b64_decode(a.value, a.value_len, raw);
            if (rn >= 0)
                md5_field(&m, raw, (size_t)rn);
            else
                md5_field(&m, a.value, a.value_len);
            free(raw);
        } else {
            md5_field(&m, a.value, a.value_len);
        }
        free(a.owned);
    }
    sl_buf_putc(out, '}');
    if (n)
        sl_pgq_md5_final(&m, md5);
    free(keys);
    json_decref(doc);
    return (int)n;
}
