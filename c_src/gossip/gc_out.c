/* gc_out.c - rendering chat events as text or JSON lines (see gc_out.h).
 *
 * Text from the network is UTF-8 (the codec checks), but it may hold control
 * characters: in text mode C0 and C1 controls become '?', so no peer can
 * move the cursor or recolour a terminal.  JSON output is cJSON's, with
 * exact integers for ids and times.  A text line is rendered into memory
 * first, then written (a pipe) or printed above the prompt (a terminal).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "gc_out.h"

/* A leave or a death shown later, unless the node comes back first. */
struct gc_out_held {
    char    *node;
    char    *line;                   /* rendered, with its time */
    uint64_t due;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes text with control characters (C0, DEL, C1) replaced. */
static void put_safe(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (*p < 0x20 || *p == 0x7f) {
            fputc('?', f);
            p++;
        } else if (*p == 0xc2 && p + 1 < end && p[1] >= 0x80 && p[1] <= 0x9f) {
            fputc('?', f);
            p += 2;
        } else {
            fputc(*p, f);
            p++;
        }
    }
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    cJSON_AddItemToObject(o, k, cJSON_CreateRaw(num));
}

static void emit_json(gc_out *o, cJSON *j)
{
    add_u64(j, "t", now_us());
    char *s = cJSON_PrintUnformatted(j);
    if (s) {
        fprintf(o->f, "%s\n", s);
        free(s);
    }
    cJSON_Delete(j);
    fflush(o->f);
}

static const char *event_name(gc_event_type t)
{
    switch (t) {
    case GC_EV_CHAT:    return "chat";
    case GC_EV_JOIN:    return "join";
    case GC_EV_LEAVE:   return "leave";
    case GC_EV_DEAD:    return "dead";
    case GC_EV_SUSPECT: return "suspect";
    case GC_EV_ALIVE:   return "alive";
    case GC_EV_JOINED:  return "joined";
    case GC_EV_REFUTE:  return "refute";
    }
    return "?";
}

static void event_json(gc_out *o, const gc_event *e)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "event", event_name(e->type));
    switch (e->type) {
    case GC_EV_CHAT: {
        cJSON_AddStringToObject(j, "from", e->node);
        char *text = malloc(3 * e->text_len + 1);
        if (text) {
            /* UTF-8 (the codec checks); a NUL becomes U+FFFD */
            size_t k = 0;
            for (size_t i = 0; i < e->text_len; i++) {
                if (e->text[i])
                    text[k++] = e->text[i];
                else
                    memcpy(text + k, "\xef\xbf\xbd", 3), k += 3;
            }
            text[k] = '\0';
            cJSON_AddStringToObject(j, "text", text);
            free(text);
        }
        add_u64(j, "id", e->id);
        if (e->mine)
            cJSON_AddTrueToObject(j, "mine");
        if (e->late)
            cJSON_AddTrueToObject(j, "late");
        break;
    }
    case GC_EV_JOINED:
        if (e->node)
            cJSON_AddStringToObject(j, "via", e->node);
        add_u64(j, "count", e->count);
        break;
    default:
        cJSON_AddStringToObject(j, "node", e->node);
        if (e->other)
            cJSON_AddStringToObject(j, "by", e->other);
        add_u64(j, "incarnation", e->id);
        if (e->type == GC_EV_JOIN && e->rejoin)
            cJSON_AddTrueToObject(j, "rejoin");
        if (e->type == GC_EV_JOIN && e->initial)
            cJSON_AddTrueToObject(j, "initial");
        break;
    }
    emit_json(o, j);
}

/* A rendered line: memory the caller frees, NULL on failure. */
typedef struct text_line {
    FILE  *f;
    char  *s;
    size_t len;
} text_line;

/* Starts a line; on a terminal with the time in front. */
static int line_open(gc_out *o, text_line *l)
{
    l->s = NULL;
    l->len = 0;
    l->f = open_memstream(&l->s, &l->len);
    if (!l->f)
        return -1;
    if (o->tty) {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        fprintf(l->f, "%02d:%02d:%02d ", tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    return 0;
}

static void print_line(gc_out *o, const char *s, size_t len)
{
    if (o->tty) {
        gc_tty_print(o->tty, s, len);
    } else {
        fwrite(s, 1, len, o->f);
        fputc('\n', o->f);
        fflush(o->f);
    }
}

/* Ends the line and prints it, or holds it for node (terminal only). */
static void line_close(gc_out *o, text_line *l, const char *hold_for)
{
    if (fclose(l->f) != 0 || !l->s) {
        free(l->s);
        return;
    }
    if (hold_for && o->tty) {
        gc_out_held *h = realloc(o->held, (o->nheld + 1) * sizeof *h);
        char *node = strdup(hold_for);
        if (h && node) {
            o->held = h;
            h[o->nheld++] = (gc_out_held){ node, l->s, mono_ms() + GC_OUT_SETTLE_MS };
            return;
        }
        if (h)
            o->held = h;
        free(node);
    }
    print_line(o, l->s, l->len);
    free(l->s);
}

static void drop_held(gc_out *o, size_t i)
{
    free(o->held[i].node);
    free(o->held[i].line);
    memmove(o->held + i, o->held + i + 1, (--o->nheld - i) * sizeof *o->held);  /* in order */
}

/* On a terminal: a node back before its leave was shown.  1 if a notice
 * about it was held (then neither it nor the return is shown). */
static int cancel_held(gc_out *o, const char *node)
{
    int found = 0;
    for (size_t i = 0; i < o->nheld;) {
        if (strcmp(o->held[i].node, node) == 0) {
            drop_held(o, i);
            found = 1;
        } else {
            i++;
        }
    }
    return found;
}

void gc_out_tick(gc_out *o, uint64_t now, int all)
{
    if (!now)
        now = mono_ms();
    for (size_t i = 0; i < o->nheld;) {
        if (all || o->held[i].due <= now) {
            print_line(o, o->held[i].line, strlen(o->held[i].line));
            drop_held(o, i);
        } else {
            i++;
        }
    }
}

void gc_out_free(gc_out *o)
{
    while (o->nheld)
        drop_held(o, 0);
    free(o->held);
    o->held = NULL;
}

static void event_text(gc_out *o, const gc_event *e)
{
    text_line l;
    const char *hold = NULL;
    switch (e->type) {
    case GC_EV_JOIN:
        if (e->initial || (o->tty && cancel_held(o, e->node)))
            return;                      /* summed up by "joined through"; or back
                                          * before its leave was shown */
        break;
    case GC_EV_SUSPECT:
    case GC_EV_ALIVE:
        return;                          /* transient: JSON only */
    default:
        break;
    }
    if (line_open(o, &l) < 0)
        return;
    FILE *f = l.f;
    switch (e->type) {
    case GC_EV_CHAT:
        fprintf(f, "[%s] ", e->node);
        put_safe(f, e->text, e->text_len);
        if (e->late)
            fputs(" (late)", f);
        break;
    case GC_EV_JOIN:
        fprintf(f, "* %s %s", e->node, e->rejoin ? "is back" : "joined");
        break;
    case GC_EV_LEAVE:
        fprintf(f, "* %s left", e->node);
        hold = e->node;
        break;
    case GC_EV_DEAD:
        fprintf(f, "* %s is gone (no answer; found by %s)", e->node, e->other ? e->other : "?");
        hold = e->node;
        break;
    case GC_EV_JOINED:
        if (e->node)
            fprintf(f, "* joined through %s: %zu members (/peers lists them)", e->node,
                    e->count);
        else if (e->count > 1)
            fprintf(f, "* started with %zu members", e->count);
        else
            fprintf(f, "* chat started: others join with --join <this node>");
        break;
    case GC_EV_REFUTE:
        fprintf(f, "* %s thought we were gone: we are back", e->other ? e->other : "a peer");
        break;
    case GC_EV_SUSPECT:
    case GC_EV_ALIVE:
        break;
    }
    line_close(o, &l, hold);
}

void gc_out_event(gc_out *o, const gc_event *e)
{
    if (o->json)
        event_json(o, e);
    else
        event_text(o, e);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void gc_out_members(gc_out *o, const char *const *names, size_t n)
{
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return;
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, by_name);
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "members");
        cJSON_AddItemToObject(j, "members", cJSON_CreateStringArray(sorted, (int)n));
        emit_json(o, j);
    } else {
        text_line l;
        if (line_open(o, &l) == 0) {
            fprintf(l.f, "* %zu member%s:", n, n == 1 ? "" : "s");
            for (size_t i = 0; i < n; i++)
                fprintf(l.f, " %s", sorted[i]);
            line_close(o, &l, NULL);
        }
    }
    free(sorted);
}

void gc_out_notice(gc_out *o, const char *kind, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", kind);
        cJSON_AddStringToObject(j, "message", msg);
        emit_json(o, j);
    } else {
        text_line l;
        if (line_open(o, &l) == 0) {
            fprintf(l.f, "%s %s", strcmp(kind, "error") == 0 ? "!" : "*", msg);
            line_close(o, &l, NULL);
        }
    }
}
