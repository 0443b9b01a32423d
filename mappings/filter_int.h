/* The compiled form of filter patterns (mappings/filter.h), shared by the compiler
 * (filter_compile.c), the matcher (filter_match.c) and the text helpers (filter_text.c). */
#ifndef SL_MAPPINGS_FILTER_INT_H
#define SL_MAPPINGS_FILTER_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mappings/filter.h"
#include "sources/source.h"

#define SL_FILTER_MAX_DEPTH 32

/* A number of a pattern or of a view, compared exactly when both are integers. */
struct sl_fnum {
    bool is_int;
    json_int_t i;
    double d; /* also set for integers */
};

enum sl_fm_kind {
    SL_FM_STRING,      /* "text": exact */
    SL_FM_NUMBER,      /* 12, 1.5: by value */
    SL_FM_NULL,        /* null */
    SL_FM_BOOL,        /* true, false */
    SL_FM_EQUALS_IC,   /* {"equals-ignore-case": s} */
    SL_FM_PREFIX,      /* {"prefix": s} */
    SL_FM_PREFIX_IC,   /* {"prefix": {"equals-ignore-case": s}} */
    SL_FM_SUFFIX,      /* {"suffix": s} */
    SL_FM_SUFFIX_IC,   /* {"suffix": {"equals-ignore-case": s}} */
    SL_FM_WILDCARD,    /* {"wildcard": "a*b"} */
    SL_FM_NUMERIC,     /* {"numeric": [op, n (, op, n)]} */
    SL_FM_EXISTS,      /* {"exists": bool} */
    SL_FM_ANYTHING_BUT /* {"anything-but": ...}: none of `neg` matches */
};

enum sl_fm_op {
    SL_FM_OP_NONE,
    SL_FM_OP_EQ,
    SL_FM_OP_NE,
    SL_FM_OP_LT,
    SL_FM_OP_LE,
    SL_FM_OP_GT,
    SL_FM_OP_GE
};

/* One literal piece of a wildcard, between stars. */
struct sl_fseg {
    const char *s; /* into the matcher's unescaped text */
    size_t len;
};

struct sl_fm {
    enum sl_fm_kind kind;
    bool b;        /* BOOL, EXISTS */
    bool also_num; /* STRING from a pattern object (YAML) that reads as a number: also matches it */
    bool also_bool;    /* STRING from a pattern object that reads true/false: also matches it (b) */
    bool strings_only; /* ANYTHING_BUT of prefix/suffix/equals-ignore-case/wildcard */
    char *s;           /* STRING, EQUALS_IC, PREFIX*, SUFFIX*, WILDCARD (unescaped) */
    size_t len;
    struct sl_fnum num;     /* NUMBER; STRING with also_num */
    enum sl_fm_op op1, op2; /* NUMERIC: op2 is NONE for a single comparison */
    struct sl_fnum v1, v2;
    struct sl_fseg *segs; /* WILDCARD: nsegs = stars + 1 */
    size_t nsegs;
    struct sl_fm *neg; /* ANYTHING_BUT */
    size_t nneg;
};

struct sl_fnode;

/* One named field of a pattern object: a nested object, or a leaf list of matchers (ORed). */
struct sl_ffield {
    char *key;
    struct sl_fnode *node;
    struct sl_fm *m;
    size_t nm;
};

/* A pattern object: every field must match, and one of the "$or" alternatives (if any). */
struct sl_fnode {
    struct sl_ffield *fields;
    size_t nfields;
    struct sl_fnode *alts;
    size_t nalts;
};

struct sl_filter {
    struct sl_fnode *patterns;
    size_t n;
};

/* filter_compile.c. `loose`: the pattern came as an object (YAML, where every scalar is text). */
int sl_fnode_compile(json_t *obj, bool loose, const char *path, size_t index, struct sl_fnode *out,
                     struct sl_err *err);
void sl_fnode_release(struct sl_fnode *n);

/* ---- filter_json.c: JSON text read in place ---- */

enum sl_jv_type {
    SL_JV_ABSENT = 0,
    SL_JV_NULL,
    SL_JV_FALSE,
    SL_JV_TRUE,
    SL_JV_NUMBER,
    SL_JV_STRING,
    SL_JV_ARRAY,
    SL_JV_OBJECT
};

/* A value inside validated JSON text (or a string given as bytes). */
struct sl_jv {
    enum sl_jv_type t;
    const char *p;   /* STRING: its content (after the quote); NUMBER: its text; ARRAY, OBJECT:
                      * the bracket */
    size_t len;      /* STRING: content bytes as written; NUMBER: text bytes */
    bool esc;        /* STRING: the content has escapes to decode */
    const char *end; /* the end of the text */
};

#define SL_JT_DECODE_ANY 1u /* a scalar at the top level is fine (JSON_DECODE_ANY) */
#define SL_JT_ALLOW_NUL  2u /* \u0000 in string values is fine (JSON_ALLOW_NUL) */

/* True when json_loadb(text, len, flags) would succeed; *out is then the top-level value. */
bool sl_jt_validate(const char *text, size_t len, unsigned flags, struct sl_jv *out);
/* The value at p (in validated text); returns the byte after it. */
const char *sl_jt_value(const char *p, const char *end, struct sl_jv *v);
/* Members of an object (key set) or elements of an array (key NULL), in order. */
struct sl_jt_iter {
    const char *p, *end;
};
void sl_jt_iter_init(struct sl_jt_iter *it, const struct sl_jv *container);
bool sl_jt_next(struct sl_jt_iter *it, struct sl_jv *key, struct sl_jv *val);
/* The member named key of object o (the last of that name, as jansson keeps); false if none. */
bool sl_jt_get(const struct sl_jv *o, const char *key, size_t klen, struct sl_jv *out);
/* A decoded string: into the text when it has no escapes, else into b (release it after). */
struct sl_jt_buf {
    char stack[256];
    char *heap;
};
const char *sl_jt_str(const struct sl_jv *v, struct sl_jt_buf *b, size_t *len);
void sl_jt_buf_release(struct sl_jt_buf *b);
/* A JSON number's text as jansson reads it (an integer unless it has a fraction or exponent);
 * false when jansson refuses it (integer or real overflow). */
bool sl_jt_number(const char *p, size_t len, struct sl_fnum *out);

/* ---- filter_match.c ---- */

/* Where a pattern object is matched: an object of JSON text, or the record's view (its
 * metadata object and its data key). */
struct sl_fobj {
    const struct sl_jv *obj;     /* set: a JSON object */
    const struct sl_fview *view; /* else: the record's view */
    struct sl_fview_state *vs;
};

/* n against o; o NULL when the pattern's level is absent. */
bool sl_fnode_match(const struct sl_fnode *n, const struct sl_fobj *o);

/* filter_text.c */
void sl_fnum_from_json(struct sl_fnum *out, const json_t *v);
int sl_fnum_cmp(const struct sl_fnum *a, const struct sl_fnum *b);
/* Parses YAML core-schema number text ("12", "-1.5e3", ".5"); false when it is not one. */
bool sl_fnum_parse(const char *s, size_t len, struct sl_fnum *out);
/* Case-insensitive comparisons (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic). */
bool sl_ftext_eq_ic(const char *a, size_t alen, const char *b, size_t blen);
bool sl_ftext_prefix_ic(const char *s, size_t len, const char *p, size_t plen);
bool sl_ftext_suffix_ic(const char *s, size_t len, const char *p, size_t plen);
/* Wildcard: splits text ("\*" a star, "\\" a backslash) into unescaped segments; returns a
 * message when the text is not a valid wildcard (consecutive stars, a stray backslash). */
const char *sl_fwild_compile(struct sl_fm *m, const char *text, size_t len);
bool sl_fwild_match(const struct sl_fm *m, const char *s, size_t len);

#endif
