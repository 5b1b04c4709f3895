/* gc_tty.c - the chat's terminal: a raw-mode line editor with a status line,
 * driven by the libuv loop (see gc_tty.h).
 *
 * Our own editor rather than libedit's readline emulation: printing a line
 * above a half-typed one needs the editor's prompt erased and redrawn
 * around every output, which readline does with rl_save_prompt /
 * rl_replace_line / rl_redisplay tricks that libedit implements only in
 * part, and libedit reads the terminal itself outside the loop.  The
 * screen here is two rows at most (status, prompt), redrawn whole: "\r",
 * clear, the row above, clear; then the status, the prompt and the part of
 * the line around the cursor that fits the width (it scrolls sideways, so
 * the prompt row never wraps).  Text is UTF-8; a code point counts as one
 * column.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "gc_tty.h"

#define GC_TTY_MAX_LINE 65536         /* bytes: a chat line's limit */
#define GC_TTY_HISTORY  200           /* lines typed before, for Up/Down */

struct gc_tty {
    uv_tty_t    h;
    uv_signal_t winch;                /* the terminal was resized: redraw */
    FILE       *out;
    gc_tty_ops  ops;
    char        prompt[32];
    int         open, winch_open, raw, closed;
    char       *line;                 /* what is being typed */
    size_t      len, cap, cur;        /* cur: the cursor, a byte offset */
    size_t      scroll;               /* first code point shown */
    char       *status;               /* NULL: no status row */
    int         drawn, status_drawn;
    int         esc;                  /* 0; 1 after ESC; 2 in ESC [ or ESC O */
    char        seq[16];              /* an escape sequence's parameters */
    size_t      nseq;
    char       *hist[GC_TTY_HISTORY];
    size_t      nhist, hpos;          /* hpos == nhist: the line being typed */
    char       *saved;                /* the line being typed, while in history */
    char        rbuf[4096];
};

/* ---- UTF-8 and columns ----------------------------------------------------- */

static int is_cont(char c) { return ((unsigned char)c & 0xc0) == 0x80; }

static size_t cps(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !is_cont(s[i]);
    return k;
}

/* The byte offset of code point cp in s (at most n). */
static size_t offset_of(const char *s, size_t n, size_t cp)
{
    size_t i = 0;
    while (i < n && cp) {
        i++;
        while (i < n && is_cont(s[i]))
            i++;
        cp--;
    }
    return i;
}

static int columns(gc_tty *t)
{
    int w = 0, h = 0;
    if (uv_tty_get_winsize(&t->h, &w, &h) != 0 || w < 20)
        w = 80;
    return w;
}

/* At most max code points of s, control characters as '?'. */
static void put_cols(FILE *f, const char *s, size_t max)
{
    for (size_t k = 0; *s; s++) {
        if (!is_cont(*s) && k++ == max)
            break;
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
    }
}

/* ---- the screen ---------------------------------------------------------------- */

static void erase(gc_tty *t)
{
    if (t->drawn)
        fputs("\r\x1b[K", t->out);
    if (t->status_drawn)
        fputs("\x1b[A\x1b[K", t->out);
    t->drawn = t->status_drawn = 0;
}

static void draw(gc_tty *t)
{
    FILE *f = t->out;
    size_t width = (size_t)columns(t);
    if (t->status && *t->status) {
        fputs("\x1b[7m", f);              /* reverse video: not chat text */
        put_cols(f, t->status, width - 1);
        fputs("\x1b[0m\r\n", f);
        t->status_drawn = 1;
    }
    size_t plen = strlen(t->prompt);
    size_t avail = width > plen + 9 ? width - plen - 1 : 8;
    size_t cur_cp = cps(t->line, t->cur);
    if (cur_cp < t->scroll)
        t->scroll = cur_cp;
    if (cur_cp >= t->scroll + avail)
        t->scroll = cur_cp - avail + 1;
    size_t from = offset_of(t->line, t->len, t->scroll);
    size_t to = from + offset_of(t->line + from, t->len - from, avail);
    fputs(t->prompt, f);
    fwrite(t->line + from, 1, to - from, f);
    fputs("\r", f);
    if (plen + cur_cp - t->scroll)
        fprintf(f, "\x1b[%zuC", plen + cur_cp - t->scroll);
    t->drawn = 1;
    fflush(f);
}

static void redraw(gc_tty *t)
{
    if (t->closed)
        return;
    erase(t);
    draw(t);
}

void gc_tty_print(gc_tty *t, const char *text, size_t len)
{
    if (!t->closed)
        erase(t);
    fwrite(text, 1, len, t->out);
    fputs("\r\n", t->out);
    if (!t->closed)
        draw(t);
    fflush(t->out);
}

void gc_tty_status(gc_tty *t, const char *text)
{
    if (!text || !*text) {
        if (!t->status)
            return;
        free(t->status);
        t->status = NULL;
    } else {
        if (t->status && strcmp(t->status, text) == 0)
            return;
        char *s = strdup(text);
        if (!s)
            return;
        free(t->status);
        t->status = s;
    }
    redraw(t);
}

/* ---- editing ---------------------------------------------------------------------- */

static void set_line(gc_tty *t, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > t->cap)
        n = t->cap;
    memcpy(t->line, s ? s : "", n);
    t->len = t->cur = n;
    t->scroll = 0;
}

static void insert(gc_tty *t, char c)
{
    if (t->len == t->cap) {
        fputc('\a', t->out);
        return;
    }
    memmove(t->line + t->cur + 1, t->line + t->cur, t->len - t->cur);
    t->line[t->cur++] = c;
    t->len++;
}

static size_t prev_cp(gc_tty *t, size_t i)
{
    while (i > 0 && is_cont(t->line[--i]))
        ;
    return i;
}

static size_t next_cp(gc_tty *t, size_t i)
{
    if (i < t->len)
        i++;
    while (i < t->len && is_cont(t->line[i]))
        i++;
    return i;
}

/* Deletes the bytes [from, to). */
static void cut(gc_tty *t, size_t from, size_t to)
{
    memmove(t->line + from, t->line + to, t->len - to);
    t->len -= to - from;
    t->cur = from;
}

static void word_back(gc_tty *t)
{
    size_t i = t->cur;
    while (i > 0 && t->line[i - 1] == ' ')
        i--;
    while (i > 0 && t->line[i - 1] != ' ')
        i--;
    cut(t, i, t->cur);
}

static void history_add(gc_tty *t, const char *s)
{
    if (t->nhist && strcmp(t->hist[t->nhist - 1], s) == 0)
        return;
    char *copy = strdup(s);
    if (!copy)
        return;
    if (t->nhist == GC_TTY_HISTORY) {
        free(t->hist[0]);
        memmove(t->hist, t->hist + 1, (GC_TTY_HISTORY - 1) * sizeof *t->hist);
        t->nhist--;
    }
    t->hist[t->nhist++] = copy;
}

static void history_walk(gc_tty *t, int up)
{
    if (up && t->hpos == 0)
        return;
    if (!up && t->hpos == t->nhist)
        return;
    if (t->hpos == t->nhist) {
        free(t->saved);
        t->line[t->len] = '\0';
        t->saved = strdup(t->line);
    }
    t->hpos += up ? (size_t)-1 : 1;
    set_line(t, t->hpos == t->nhist ? t->saved : t->hist[t->hpos]);
}

/* Enter: the line is handed over and the prompt is empty again. */
static void enter(gc_tty *t)
{
    t->line[t->len] = '\0';
    char *copy = strdup(t->line);
    size_t n = t->len;
    if (n)
        history_add(t, t->line);
    t->hpos = t->nhist;
    set_line(t, NULL);
    redraw(t);
    if (copy)
        t->ops.line(t->ops.ud, copy, n);
    free(copy);
}

/* The final byte of ESC [ ... or ESC O ... */
static void sequence(gc_tty *t, char final)
{
    int p = atoi(t->seq);
    switch (final) {
    case 'A': history_walk(t, 1); break;
    case 'B': history_walk(t, 0); break;
    case 'C': t->cur = next_cp(t, t->cur); break;
    case 'D': t->cur = prev_cp(t, t->cur); break;
    case 'H': t->cur = 0; break;
    case 'F': t->cur = t->len; break;
    case '~':
        if (p == 3 && t->cur < t->len)
            cut(t, t->cur, next_cp(t, t->cur));
        else if (p == 1 || p == 7)
            t->cur = 0;
        else if (p == 4 || p == 8)
            t->cur = t->len;
        break;
    default: break;
    }
}

/* One byte of an escape sequence. */
static void escape(gc_tty *t, char c)
{
    if (t->esc == 1) {
        t->esc = c == '[' || c == 'O' ? 2 : 0;   /* Alt-key: ignored */
        t->nseq = 0;
        return;
    }
    if (c >= 0x40 && c <= 0x7e) {
        t->seq[t->nseq] = '\0';
        t->esc = 0;
        sequence(t, c);
    } else if (t->nseq + 1 < sizeof t->seq) {
        t->seq[t->nseq++] = c;
    }
}

/* One key (byte); 1 if the prompt row must be redrawn. */
static int key(gc_tty *t, unsigned char c)
{
    if (t->esc) {
        escape(t, (char)c);
        return !t->esc;
    }
    switch (c) {
    case 0x1b: t->esc = 1; return 0;
    case '\r':
    case '\n': enter(t); return 0;
    case 0x03: t->ops.interrupt(t->ops.ud); return 0;
    case 0x04:
        if (!t->len) {
            t->ops.eof(t->ops.ud);
            return 0;
        }
        if (t->cur < t->len)
            cut(t, t->cur, next_cp(t, t->cur));
        return 1;
    case 0x01: t->cur = 0; return 1;
    case 0x05: t->cur = t->len; return 1;
    case 0x02: t->cur = prev_cp(t, t->cur); return 1;
    case 0x06: t->cur = next_cp(t, t->cur); return 1;
    case 0x08:
    case 0x7f:
        if (t->cur)
            cut(t, prev_cp(t, t->cur), t->cur);
        return 1;
    case 0x0b: t->len = t->cur; return 1;
    case 0x15: cut(t, 0, t->cur); return 1;
    case 0x17: word_back(t); return 1;
    case 0x0c:
        fputs("\x1b[H\x1b[2J", t->out);
        t->drawn = t->status_drawn = 0;
        return 1;
    case 0x10: history_walk(t, 1); return 1;
    case 0x0e: history_walk(t, 0); return 1;
    default:
        if (c < 0x20)
            return 0;                     /* other controls: ignored */
        insert(t, (char)c);
        return 1;
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    gc_tty *t = h->data;
    (void)hint;
    *buf = uv_buf_init(t->rbuf, sizeof t->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    gc_tty *t = s->data;
    if (nread < 0) {
        uv_read_stop(s);
        t->ops.eof(t->ops.ud);
        return;
    }
    int dirty = 0;
    for (ssize_t i = 0; i < nread && !t->closed; i++)
        dirty |= key(t, (unsigned char)buf->base[i]);
    if (dirty)
        redraw(t);
}

static void on_winch(uv_signal_t *s, int signum)
{
    (void)signum;
    redraw(s->data);
}

/* ---- lifecycle ------------------------------------------------------------------- */

gc_tty *gc_tty_new(uv_loop_t *loop, int fd, FILE *out, const char *prompt,
                   const gc_tty_ops *ops, char *err, size_t errlen)
{
    gc_tty *t = calloc(1, sizeof *t);
    if (t)
        t->line = malloc(GC_TTY_MAX_LINE + 1);
    if (!t || !t->line) {
        free(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->cap = GC_TTY_MAX_LINE;
    t->out = out;
    t->ops = *ops;
    snprintf(t->prompt, sizeof t->prompt, "%s", prompt);
    int r = uv_tty_init(loop, &t->h, fd, 1);
    if (r < 0) {
        snprintf(err, errlen, "cannot use the terminal: %s", uv_strerror(r));
        gc_tty_free(t);
        return NULL;
    }
    t->h.data = t;
    t->open = 1;
    uv_signal_init(loop, &t->winch);
    t->winch.data = t;
    t->winch_open = 1;
    return t;
}

void gc_tty_start(gc_tty *t)
{
    if (uv_tty_set_mode(&t->h, UV_TTY_MODE_RAW) == 0)
        t->raw = 1;
    uv_read_start((uv_stream_t *)&t->h, on_alloc, on_read);
    uv_signal_start(&t->winch, on_winch, SIGWINCH);
    draw(t);
}

void gc_tty_close(gc_tty *t)
{
    if (t->closed)
        return;
    erase(t);
    fflush(t->out);
    t->closed = 1;
    if (t->raw)
        uv_tty_set_mode(&t->h, UV_TTY_MODE_NORMAL);
    t->raw = 0;
    if (t->open) {
        uv_read_stop((uv_stream_t *)&t->h);
        uv_close((uv_handle_t *)&t->h, NULL);
        t->open = 0;
    }
    if (t->winch_open) {
        uv_close((uv_handle_t *)&t->winch, NULL);
        t->winch_open = 0;
    }
}

void gc_tty_free(gc_tty *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nhist; i++)
        free(t->hist[i]);
    free(t->saved);
    free(t->status);
    free(t->line);
    free(t);
}
