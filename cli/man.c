/* sluice(1), the manual page in roff (man(7) macros), generated from the texts `--help` prints
 * and the Markdown reference `sluice config docs` writes from the property tables, so the three
 * never disagree. */
#include <stdbool.h>
#include <string.h>

#include "cli/cmd.h"

/* One line of text for roff: backslashes escaped, a control character ('.' or '\'') at the
 * start neutralised. With md, Markdown's code spans lose their backticks and "\|" is a '|'. */
static void put_text(struct sl_buf *out, const char *s, size_t n, bool md)
{
    if (n > 0 && (s[0] == '.' || s[0] == '\''))
        sl_buf_puts(out, "\\&");
    for (size_t i = 0; i < n; i++) {
        if (md && s[i] == '`')
            continue;
        if (md && s[i] == '\\' && i + 1 < n && s[i + 1] == '|')
            continue;
        if (s[i] == '\\')
            sl_buf_puts(out, "\\e");
        else if (s[i] == '-')
            sl_buf_puts(out, "\\-");
        else
            sl_buf_putc(out, s[i]);
    }
}

static void put_line(struct sl_buf *out, const char *s, size_t n, bool md)
{
    put_text(out, s, n, md);
    sl_buf_putc(out, '\n');
}

/* The next line of *p (without its '\n'); false at the end. */
static bool next_line(const char **p, const char **line, size_t *n)
{
    if (!**p)
        return false;
    const char *nl = strchr(*p, '\n');
    *line = *p;
    *n = nl ? (size_t)(nl - *p) : strlen(*p);
    *p = nl ? nl + 1 : *p + *n;
    return true;
}

static bool starts(const char *line, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(line, prefix, k) == 0;
}

static const char *usage_of(const struct sl_cli_usage *cmds, const char *name, size_t n)
{
    for (; cmds && cmds->name; cmds++) {
        if (strlen(cmds->name) == n && memcmp(cmds->name, name, n) == 0)
            return cmds->text;
    }
    return NULL;
}

/* A --help text as it prints, in no-fill mode. */
static void put_verbatim(struct sl_buf *out, const char *text)
{
    const char *line;
    size_t n;
    sl_buf_puts(out, ".RS\n.nf\n");
    while (next_line(&text, &line, &n)) {
        if (n == 0)
            sl_buf_puts(out, ".sp\n");
        else
            put_line(out, line, n, false);
    }
    sl_buf_puts(out, ".fi\n.RE\n");
}

/* SYNOPSIS: the "usage:" line of each command; DESCRIPTION: the main text's paragraphs;
 * COMMANDS: each entry of its "commands:" list with that command's --help. */
static void put_commands(struct sl_buf *out, const char *main_usage,
                         const struct sl_cli_usage *cmds)
{
    const char *line, *p;
    size_t n;
    sl_buf_puts(out, ".SH SYNOPSIS\n");
    for (const struct sl_cli_usage *c = cmds; c && c->name; c++) {
        p = c->text;
        if (next_line(&p, &line, &n) && starts(line, n, "usage: sluice ")) {
            sl_buf_puts(out, ".B sluice\n");
            put_line(out, line + 14, n - 14, false);
            sl_buf_puts(out, ".br\n");
        }
    }
    sl_buf_puts(out, ".SH DESCRIPTION\n");
    bool in_commands = false, para = true;
    p = main_usage;
    while (next_line(&p, &line, &n)) {
        if (starts(line, n, "usage:"))
            continue;
        if (n == 0) {
            para = true;
            in_commands = false;
            continue;
        }
        if (starts(line, n, "commands:")) {
            in_commands = true;
            continue;
        }
        if (in_commands)
            continue;
        if (para)
            sl_buf_puts(out, ".PP\n");
        para = false;
        put_line(out, line, n, false);
    }
    sl_buf_puts(out, ".SH COMMANDS\n");
    in_commands = false;
    p = main_usage;
    while (next_line(&p, &line, &n)) {
        if (starts(line, n, "commands:")) {
            in_commands = true;
            continue;
        }
        if (!in_commands || n == 0) {
            in_commands = in_commands && n > 0;
            continue;
        }
        /* "  name       summary" */
        const char *name = line;
        while (name < line + n && *name == ' ')
            name++;
        const char *end = name;
        while (end < line + n && *end != ' ')
            end++;
        const char *summary = end;
        while (summary < line + n && *summary == ' ')
            summary++;
        sl_buf_puts(out, ".TP\n.B ");
        put_line(out, name, (size_t)(end - name), false);
        put_line(out, summary, (size_t)(line + n - summary), false);
        const char *usage = usage_of(cmds, name, (size_t)(end - name));
        if (usage)
            put_verbatim(out, usage);
    }
}

/* A row "| `key` | type | default | allowed | description |" as a tagged paragraph. */
static void put_row(struct sl_buf *out, const char *line, size_t n)
{
    const char *cell[5];
    size_t len[5];
    size_t k = 0;
    const char *p = line + 1, *end = line + n;
    while (k < 5 && p < end) {
        const char *q = p;
        while (q < end && !(*q == '|' && q[-1] != '\\'))
            q++;
        const char *a = p, *b = q;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        cell[k] = a;
        len[k++] = (size_t)(b - a);
        p = q + 1;
    }
    if (k < 5)
        return;
    sl_buf_puts(out, ".TP\n.B ");
    put_line(out, cell[0], len[0], true);
    put_text(out, cell[1], len[1], true);
    if (len[2]) {
        sl_buf_puts(out, "; default: ");
        put_text(out, cell[2], len[2], true);
    }
    if (len[3]) {
        sl_buf_puts(out, "; allowed: ");
        put_text(out, cell[3], len[3], true);
    }
    sl_buf_puts(out, ".\n");
    put_line(out, cell[4], len[4], true);
}

/* CONFIGURATION: the Markdown reference, its headings as subsections, table rows as tagged
 * paragraphs, other text as paragraphs. */
static void put_config(struct sl_buf *out, const char *md)
{
    const char *line;
    size_t n;
    bool comment = false, para = true;
    sl_buf_puts(out, ".SH CONFIGURATION\n");
    while (next_line(&md, &line, &n)) {
        if (comment || starts(line, n, "<!--")) {
            comment = !(n >= 3 && memcmp(line + n - 3, "-->", 3) == 0);
            continue;
        }
        if (starts(line, n, "# ") || starts(line, n, "| Key |") || starts(line, n, "|---"))
            continue;
        if (n == 0) {
            para = true;
            continue;
        }
        if (starts(line, n, "## ")) {
            sl_buf_puts(out, ".SS ");
            put_line(out, line + 3, n - 3, true);
            para = false;
            continue;
        }
        if (starts(line, n, "| ")) {
            put_row(out, line, n);
            para = true;
            continue;
        }
        if (para)
            sl_buf_puts(out, ".PP\n");
        para = false;
        put_line(out, line, n, true);
    }
}

void sl_cli_man(const char *main_usage, const struct sl_cli_usage *cmds, struct sl_buf *out)
{
    sl_buf_puts(out, ".\\\" Generated by `sluice config man` from the --help texts and the "
                     "property tables.\n");
    sl_buf_printf(out, ".TH SLUICE 1 \"\" \"sluice %s\" \"User Commands\"\n", SL_VERSION);
    sl_buf_puts(out, ".SH NAME\nsluice \\- event\\-source integration hub\n");
    put_commands(out, main_usage, cmds);
    struct sl_buf md;
    sl_buf_init(&md);
    sl_cli_config_docs(&md);
    sl_buf_putc(&md, '\0');
    put_config(out, md.data);
    sl_buf_release(&md);
    sl_buf_puts(out, ".SH ENVIRONMENT\n"
                     ".TP\n.B SLUICE_CONFIG\n"
                     "The config file when no \\-c is given (else ./sluice.yaml).\n"
                     ".TP\n.B NOTIFY_SOCKET\n"
                     ".B sluice run\n"
                     "sends READY=1 and STOPPING=1 there, as sd_notify(3) describes (systemd's "
                     "Type=notify).\n"
                     ".TP\n.B MALLOC_ARENA_MAX\n"
                     ".B sluice run\n"
                     "keeps malloc to two arenas unless this is set.\n"
                     ".SH FILES\n"
                     ".TP\n.I /etc/sluice/sluice.yaml\n"
                     "The config file of the systemd unit sluice.service.\n"
                     ".TP\n.I /var/lib/sluice\n"
                     "The unit's state directory, for store.dir.\n"
                     ".SH SEE ALSO\n"
                     ".BR systemd.service (5),\n"
                     ".BR sd_notify (3);\n"
                     "README.md and docs/ in the sluice documentation directory.\n");
}
