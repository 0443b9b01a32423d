/* Property tables: the Markdown reference (docs/CONFIGURATION.md). */
#include <stdio.h>
#include <string.h>

#include "config/props.h"
#include "config/props_fmt.h"

static const char *type_name(enum sl_prop_type type)
{
    switch (type) {
    case SL_PROP_STRING:
        return "string";
    case SL_PROP_INT:
        return "integer";
    case SL_PROP_BOOL:
        return "boolean";
    case SL_PROP_FLOAT:
        return "number";
    case SL_PROP_DURATION:
        return "duration";
    case SL_PROP_SIZE:
        return "size";
    case SL_PROP_ENUM:
        return "enum";
    case SL_PROP_STRING_LIST:
        return "list of strings";
    case SL_PROP_INT_LIST:
        return "list of integers";
    case SL_PROP_STRING_MAP:
        return "map of strings";
    case SL_PROP_OBJECT:
        return "section";
    case SL_PROP_OBJECT_LIST:
        return "list of sections";
    case SL_PROP_JSON:
        return "any";
    case SL_PROP_INLINE:
        break; /* never shown: its sub table's rows are */
    }
    return "?";
}

/* Table cell text: '|' escaped, line breaks flattened. */
static void put_cell(struct sl_buf *md, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            sl_buf_puts(md, "\\|");
        else if (*s == '\n' || *s == '\r')
            sl_buf_putc(md, ' ');
        else
            sl_buf_putc(md, *s);
    }
}

static void put_default(struct sl_buf *md, const struct sl_prop *p)
{
    if (p->flags & SL_PROP_REQUIRED)
        sl_buf_puts(md, "required");
    else if (p->type == SL_PROP_OBJECT)
        sl_buf_puts(md, "see below");
    else if (p->flags & SL_PROP_SECRET)
        sl_buf_puts(md, p->def ? "(secret)" : "-");
    else if (!p->def)
        sl_buf_puts(md, "-");
    else if (!*p->def)
        sl_buf_puts(md, "`\"\"`");
    else {
        sl_buf_putc(md, '`');
        put_cell(md, p->def);
        sl_buf_putc(md, '`');
    }
}

static void put_allowed(struct sl_buf *md, const struct sl_prop *p)
{
    char text[512];
    text[0] = '\0';
    switch (p->type) {
    case SL_PROP_ENUM:
        sl_prop_fmt_enum(p, "`", text, sizeof(text));
        break;
    case SL_PROP_BOOL:
        snprintf(text, sizeof(text), "`true`, `false`");
        break;
    case SL_PROP_INT:
    case SL_PROP_INT_LIST:
    case SL_PROP_FLOAT:
    case SL_PROP_DURATION:
    case SL_PROP_SIZE:
        if (p->min != 0 || p->max != 0) {
            char range[256];
            sl_prop_fmt_range(p, range, sizeof(range));
            snprintf(text, sizeof(text), "%s%s", p->type == SL_PROP_INT_LIST ? "each " : "", range);
        }
        break;
    default:
        break;
    }
    put_cell(md, text);
}

static void child_prefix(char *out, size_t cap, const char *prefix, const struct sl_prop *p)
{
    if (p->type == SL_PROP_OBJECT_LIST)
        snprintf(out, cap, "%s%s%s[]", prefix, *prefix ? "." : "", p->name);
    else
        snprintf(out, cap, "%s%s%s", prefix, *prefix ? "." : "", p->name);
}

/* The rows of t; an inlined table's rows go in its row's place, as keys of this level. */
static void put_rows(const struct sl_prop_table *t, const char *prefix, struct sl_buf *md)
{
    for (size_t i = 0; i < t->nprops; i++) {
        const struct sl_prop *p = &t->props[i];
        if (p->type == SL_PROP_INLINE) {
            if (p->sub)
                put_rows(p->sub, prefix, md);
            continue;
        }
        char key[256];
        snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", p->name);
        sl_buf_puts(md, "| `");
        put_cell(md, key);
        sl_buf_puts(md, "` | ");
        sl_buf_puts(md, type_name(p->type));
        sl_buf_puts(md, " | ");
        put_default(md, p);
        sl_buf_puts(md, " | ");
        put_allowed(md, p);
        sl_buf_puts(md, " | ");
        put_cell(md, p->desc);
        if (p->flags & SL_PROP_PATH)
            sl_buf_puts(md, " A relative path is read from the config file's folder.");
        if (p->flags & SL_PROP_SECRET)
            sl_buf_puts(md, " Secret: never printed in logs, errors or the admin API.");
        sl_buf_puts(md, " |\n");
    }
}

/* The nested tables of t's sections (inlined tables' sections included), in row order. */
static void put_nested(const struct sl_prop_table *t, const char *prefix, struct sl_buf *md)
{
    for (size_t i = 0; i < t->nprops; i++) {
        const struct sl_prop *p = &t->props[i];
        if (p->type == SL_PROP_INLINE && p->sub) {
            put_nested(p->sub, prefix, md);
        } else if ((p->type == SL_PROP_OBJECT || p->type == SL_PROP_OBJECT_LIST) && p->sub) {
            char sub[256];
            child_prefix(sub, sizeof(sub), prefix, p);
            sl_props_doc(p->sub, sub, md);
        }
    }
}

void sl_props_doc(const struct sl_prop_table *t, const char *prefix, struct sl_buf *md)
{
    if (!t || !md)
        return;
    if (!prefix)
        prefix = "";
    /* A type's table is named for its section and type, "sources[] (type: redis)": its
     * heading says which type it is. */
    size_t plen = strlen(prefix);
    const char *rest =
        t->name && *prefix && strncmp(t->name, prefix, plen) == 0 && t->name[plen] == ' '
            ? t->name + plen
            : "";
    if (*prefix)
        sl_buf_printf(md, "## `%s`%s\n\n", prefix, rest);
    else
        sl_buf_printf(md, "## %s\n\n", t->name ? t->name : "Top level");
    if (t->desc)
        sl_buf_printf(md, "%s\n\n", t->desc);
    if (t->nprops) {
        sl_buf_puts(md, "| Key | Type | Default | Allowed | Description |\n");
        sl_buf_puts(md, "|---|---|---|---|---|\n");
    }
    put_rows(t, prefix, md);
    for (size_t i = 0; t->tolerated && t->tolerated[i]; i++) {
        if (strcmp(t->tolerated[i], "*") == 0) {
            sl_buf_puts(md, "\nEvery other key belongs to the section's `type` and is described "
                            "in that type's own table.\n");
            break;
        }
    }
    sl_buf_putc(md, '\n');
    put_nested(t, prefix, md);
}
