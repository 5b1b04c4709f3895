/* log.c - the node's log lines: verbosity, where they go (stderr or a
 * function the program gives), and rate-limiting of repeated warnings, so
 * that a peer retrying with a wrong cookie every half second fills no log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h ? h : 1;
}

/* 1 if msg was printed within CN_LOG_REPEAT_MS (counted, not printed);
 * else 0, with *dropped the repeats not printed since it last was. */
static int repeated(cn_node *n, const char *msg, unsigned *dropped)
{
    uint64_t h = fnv1a(msg), now = mono_ms();
    cn_log_seen *slot = &n->log_seen[0];
    *dropped = 0;
    for (unsigned i = 0; i < CN_LOG_SEEN; i++) {
        cn_log_seen *e = &n->log_seen[i];
        if (e->hash == h) {
            if (now - e->at < CN_LOG_REPEAT_MS) {
                e->dropped++;
                return 1;
            }
            *dropped = e->dropped;
            slot = e;
            break;
        }
        if (e->at < slot->at)
            slot = e;                /* the oldest, to reuse */
    }
    slot->hash = h;
    slot->at = now;
    slot->dropped = 0;
    return 0;
}

void cn_log(cn_node *n, int level, const char *fmt, ...)
{
    if (n && level > n->verbose)
        return;
    static const char *names[] = { "error", "warning", "info", "debug" };
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unsigned dropped = 0;
    if (n && level <= CN_LOG_WARN && repeated(n, msg, &dropped))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char line[1200];
    int len = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld [%s] %s: %s", tm.tm_hour,
                       tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, n ? n->name : "-",
                       names[level + 1], msg);
    if (dropped && len > 0 && (size_t)len < sizeof line)
        snprintf(line + len, sizeof line - (size_t)len, " (and %u more like it not shown)",
                 dropped);
    if (n && n->log_fn)
        n->log_fn(n->log_ud, level, line);
    else
        fprintf(stderr, "%s\n", line);
}

void cn_node_log_to(cn_node *n, cn_log_fn fn, void *ud)
{
    n->log_fn = fn;
    n->log_ud = ud;
}
