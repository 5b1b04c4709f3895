/* gc_input.c - lines from the terminal, a pipe or a file, and the slash
 * commands (see gc_input.h).  A terminal or pipe is read on the loop; a
 * file (or stdin redirected from one) is read whole at start.  On a
 * terminal the line editor (gc_tty.c) hands over whole lines, and a timer
 * keeps its status line current and shows membership notices once they
 * have settled (gc_out.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../node/buf.h"
#include "gc_input.h"
#include "gc_tty.h"
#include "gc_wire.h"

#define GC_INPUT_MAX (64u << 20)     /* bytes of a script file */
#define GC_STATUS_EVERY_MS 200       /* the terminal's status line */
#define GC_WARN_SHOWN_MS 10000       /* a warning stays on it this long */

struct gc_input {
    uv_loop_t      *loop;
    gc_out         *out;
    gc_node        *g;
    gc_input_config cfg;
    char          **lines;           /* queue: lines[head..count) */
    size_t          head, count, cap;
    cn_buf          partial;         /* a stream's bytes since the last newline */
    int             eof, stream, handle_open, stopped, quitting, pumping;
    size_t          wait_for;        /* /wait N holds lines */
    union {
        uv_tty_t  tty;
        uv_pipe_t pipe;
    } h;
    gc_tty         *tty;             /* the line editor, on a terminal */
    uv_timer_t      status_timer;
    int             timer_open;
    char            warn[512];       /* the last warning, for the status line */
    uint64_t        warn_at;
    char            rbuf[65536];
};

static int push_line(gc_input *in, const char *s, size_t len)
{
    if (in->count == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 64;
        char **l = realloc(in->lines, cap * sizeof *l);
        if (!l)
            return -1;
        in->lines = l;
        in->cap = cap;
    }
    while (len && (s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    char *line = malloc(len + 1);
    if (!line)
        return -1;
    memcpy(line, s, len);
    line[len] = '\0';
    in->lines[in->count++] = line;
    return 0;
}

/* Splits data into lines; a tail without a newline stays in partial. */
static void feed(gc_input *in, const char *data, size_t len)
{
    cn_buf_append(&in->partial, data, len);
    char *start = in->partial.data, *end = start + in->partial.len, *nl;
    while (start < end && (nl = memchr(start, '\n', (size_t)(end - start)))) {
        push_line(in, start, (size_t)(nl - start));
        start = nl + 1;
    }
    cn_buf_consume(&in->partial, (size_t)(start - in->partial.data));
    if (in->partial.len > GC_MAX_TEXT + 1) {
        gc_out_notice(in->out, "error", "line longer than %d bytes: dropped", GC_MAX_TEXT);
        cn_buf_reset(&in->partial);
    }
}

static void end_of_input(gc_input *in)
{
    if (in->partial.len)
        push_line(in, in->partial.data, in->partial.len);
    cn_buf_reset(&in->partial);
    in->eof = 1;
}

/* ---- commands ---------------------------------------------------------------- */

static void quit(gc_input *in)
{
    if (in->quitting)
        return;
    in->quitting = 1;
    gc_node_quit(in->g);
}

static void command(gc_input *in, const char *line)
{
    char *end;
    if (strcmp(line, "/peers") == 0 || strcmp(line, "/members") == 0) {
        gc_node_show_members(in->g);
    } else if (strcmp(line, "/quit") == 0) {
        quit(in);
    } else if (strncmp(line, "/wait ", 6) == 0) {
        long n = strtol(line + 6, &end, 10);
        if (end == line + 6 || *end || n < 1 || n > 1000000)
            gc_out_notice(in->out, "error", "/wait needs a member count, as in /wait 3");
        else
            in->wait_for = (size_t)n;
    } else if (strcmp(line, "/help") == 0) {
        gc_out_notice(in->out, "info", "type a line to send it; /peers lists the members; "
                      "/wait N waits for N members; /quit leaves");
    } else {
        gc_out_notice(in->out, "error", "unknown command %s (try /help)", line);
    }
}

static void run_line(gc_input *in, const char *line)
{
    size_t len = strlen(line);
    if (!len)
        return;
    if (line[0] == '/') {
        command(in, line);
    } else if (len > GC_MAX_TEXT) {
        gc_out_notice(in->out, "error", "line longer than %d bytes: not sent", GC_MAX_TEXT);
    } else if (!gc_utf8_valid(line, len)) {
        gc_out_notice(in->out, "error", "line is not UTF-8: not sent");
    } else {
        gc_node_say(in->g, line, len);
    }
}

static void pump(gc_input *in)
{
    if (in->pumping || !in->g)
        return;
    in->pumping = 1;
    while (!in->stopped && !in->quitting && in->head < in->count) {
        if (!gc_node_joined(in->g) && strcmp(in->lines[in->head], "/quit") != 0)
            break;
        if (in->wait_for && gc_node_member_count(in->g) < in->wait_for)
            break;
        in->wait_for = 0;
        char *line = in->lines[in->head];
        in->lines[in->head++] = NULL;
        run_line(in, line);
        free(line);
    }
    if (in->eof && in->head == in->count && !in->cfg.stay && !in->stopped)
        quit(in);
    in->pumping = 0;
}

void gc_input_changed(void *ud) { pump(ud); }

/* ---- reading -------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    gc_input *in = h->data;
    (void)hint;
    *buf = uv_buf_init(in->rbuf, sizeof in->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    gc_input *in = s->data;
    if (nread < 0) {
        uv_read_stop(s);
        end_of_input(in);
    } else if (nread > 0) {
        feed(in, buf->base, (size_t)nread);
    }
    pump(in);
}

static int read_all(gc_input *in, FILE *f, const char *what, char *err, size_t errlen)
{
    char chunk[65536];
    size_t n, total = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        total += n;
        if (total > GC_INPUT_MAX) {
            snprintf(err, errlen, "%s is larger than %u bytes", what, GC_INPUT_MAX);
            return -1;
        }
        feed(in, chunk, n);
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read %s: %s", what, strerror(errno));
        return -1;
    }
    end_of_input(in);
    return 0;
}

static int open_tty(gc_input *in, char *err, size_t errlen);

static int open_stdin(gc_input *in, char *err, size_t errlen)
{
    int r = -1;
    switch (uv_guess_handle(0)) {
    case UV_TTY:
        if (!in->out->json && isatty(fileno(in->out->f)))
            return open_tty(in, err, errlen);
        r = uv_tty_init(in->loop, &in->h.tty, 0, 1);
        break;
    case UV_NAMED_PIPE:
    case UV_TCP:
        r = uv_pipe_init(in->loop, &in->h.pipe, 0);
        if (r == 0 && (r = uv_pipe_open(&in->h.pipe, 0)) < 0) {
            uv_close((uv_handle_t *)&in->h.pipe, NULL);
            uv_run(in->loop, UV_RUN_NOWAIT);     /* finish the close before freeing */
        }
        break;
    case UV_FILE:
        return read_all(in, stdin, "stdin", err, errlen);
    default:
        end_of_input(in);            /* closed: as an empty input */
        return 0;
    }
    if (r < 0) {
        snprintf(err, errlen, "cannot read stdin: %s", uv_strerror(r));
        return -1;
    }
    in->h.pipe.data = in;            /* tty and pipe share the stream header */
    in->stream = in->handle_open = 1;
    return 0;
}

/* ---- the terminal -------------------------------------------------------------- */

int gc_input_is_tty(const gc_input *in) { return in->tty != NULL; }

/* What the node waits for, or a recent warning; "" if nothing. */
static void status_text(gc_input *in, char *s, size_t size)
{
    s[0] = '\0';
    if (in->stopped || in->quitting || !in->g)
        return;
    size_t held = in->count - in->head;
    if (!gc_node_joined(in->g)) {           /* the join's problems first */
        const char *to = gc_node_contact(in->g), *why = gc_node_join_problem(in->g);
        char lines[64] = "";
        if (held)
            snprintf(lines, sizeof lines, "%zu line%s to send once joined; ", held,
                     held == 1 ? "" : "s");
        if (to && why)
            snprintf(s, size, "waiting for %s: %s (%s/quit leaves)", to, why, lines);
        else if (to)
            snprintf(s, size, "joining through %s... (%s/quit leaves)", to, lines);
        else
            snprintf(s, size, "starting... (%s/quit leaves)", lines);
    } else if (in->warn[0] && uv_now(in->loop) - in->warn_at < GC_WARN_SHOWN_MS) {
        snprintf(s, size, "%s", in->warn);
    } else if (in->wait_for) {
        snprintf(s, size, "/wait: %zu of %zu members (%zu line%s held)",
                 gc_node_member_count(in->g), in->wait_for, held, held == 1 ? "" : "s");
    }
}

static void refresh(gc_input *in)
{
    if (!in->tty || in->stopped)
        return;
    char s[1024];
    status_text(in, s, sizeof s);
    gc_tty_status(in->tty, s);
    gc_out_tick(in->out, 0, 0);
}

static void on_status_timer(uv_timer_t *t) { refresh(t->data); }

void gc_input_log(void *ud, int level, const char *line)
{
    gc_input *in = ud;
    if (in->cfg.log_file) {
        fprintf(stderr, "%s\n", line);
        fflush(stderr);
    }
    if (level > CN_LOG_WARN || in->stopped)   /* info, debug: the log file only */
        return;
    const char *msg = strstr(line, "] ");  /* "HH:MM:SS.mmm [node] warning: ..." */
    snprintf(in->warn, sizeof in->warn, "! %s", msg ? msg + 2 : line);
    in->warn_at = uv_now(in->loop);
    refresh(in);
}

/* A line typed at the prompt: a command runs now, a chat line waits for
 * the join. */
static void typed(void *ud, const char *s, size_t len)
{
    gc_input *in = ud;
    if (in->quitting || in->stopped)
        return;
    if (len && s[0] == '/') {
        size_t held = in->count - in->head;
        if (strcmp(s, "/quit") == 0 && held)
            gc_out_notice(in->out, "info", "%zu line%s not sent (%s)", held,
                          held == 1 ? "" : "s",
                          gc_node_joined(in->g) ? "held by /wait" : "not joined yet");
        command(in, s);
    } else {
        push_line(in, s, len);
        pump(in);
    }
    refresh(in);
}

static void typed_eof(void *ud)
{
    gc_input *in = ud;
    end_of_input(in);
    pump(in);
}

/* Ctrl-C: leave; a second one stops at once (gc_node_quit). */
static void interrupted(void *ud)
{
    gc_input *in = ud;
    if (in->quitting)
        gc_node_quit(in->g);
    else
        quit(in);
}

static int open_tty(gc_input *in, char *err, size_t errlen)
{
    gc_tty_ops ops = { .line = typed, .eof = typed_eof, .interrupt = interrupted, .ud = in };
    in->tty = gc_tty_new(in->loop, 0, in->out->f, "> ", &ops, err, errlen);
    if (!in->tty)
        return -1;
    in->out->tty = in->tty;
    uv_timer_init(in->loop, &in->status_timer);
    in->status_timer.data = in;
    in->timer_open = 1;
    return 0;
}

gc_input *gc_input_new(uv_loop_t *loop, gc_out *out, const gc_input_config *cfg, char *err,
                       size_t errlen)
{
    gc_input *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->loop = loop;
    in->out = out;
    in->cfg = *cfg;
    cn_buf_init(&in->partial);
    for (size_t i = 0; i < cfg->nsay; i++)
        push_line(in, cfg->say[i], strlen(cfg->say[i]));
    int r;
    if (cfg->file && strcmp(cfg->file, "-") != 0) {
        FILE *f = fopen(cfg->file, "r");
        if (!f) {
            snprintf(err, errlen, "cannot open %s: %s", cfg->file, strerror(errno));
            r = -1;
        } else {
            r = read_all(in, f, cfg->file, err, errlen);
            fclose(f);
        }
    } else {
        r = open_stdin(in, err, errlen);
    }
    if (r < 0) {
        gc_input_free(in);
        return NULL;
    }
    return in;
}

void gc_input_start(gc_input *in, gc_node *g)
{
    in->g = g;
    if (in->stream)
        uv_read_start((uv_stream_t *)&in->h.pipe, on_alloc, on_read);
    if (in->tty) {
        gc_tty_start(in->tty);
        uv_timer_start(&in->status_timer, on_status_timer, 0, GC_STATUS_EVERY_MS);
    }
    pump(in);
}

void gc_input_stop(void *ud)
{
    gc_input *in = ud;
    if (in->stopped)
        return;
    in->stopped = 1;
    if (in->tty) {
        /* the notices held back, then the confirmation, then the terminal
         * as it was */
        gc_out_tick(in->out, 0, 1);
        gc_tty_status(in->tty, NULL);
        gc_out_notice(in->out, "info", "you left the chat");
        gc_tty_close(in->tty);
    }
    if (in->timer_open) {
        in->timer_open = 0;
        uv_close((uv_handle_t *)&in->status_timer, NULL);
    }
    if (in->handle_open) {
        in->handle_open = 0;
        uv_read_stop((uv_stream_t *)&in->h.pipe);
        uv_close((uv_handle_t *)&in->h.pipe, NULL);
    }
}

void gc_input_free(gc_input *in)
{
    if (!in)
        return;
    for (size_t i = in->head; i < in->count; i++)
        free(in->lines[i]);
    free(in->lines);
    cn_buf_free(&in->partial);
    gc_tty_free(in->tty);
    free(in);
}
