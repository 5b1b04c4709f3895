/* peers.c - reading peers.json with cJSON (see peers.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "peers.h"

#define PEERS_MAX_FILE (1 << 20)

/* An optional string field ("" when absent). */
static int get_string(const cJSON *o, const char *key, char *out, size_t outsz, size_t idx,
                      char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        out[0] = '\0';
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= outsz) {
        snprintf(err, errlen, "nodes[%zu]: \"%s\" must be a non-empty string under %zu bytes",
                 idx, key, outsz);
        return -1;
    }
    snprintf(out, outsz, "%s", v->valuestring);
    return 0;
}

static int get_int(const cJSON *o, const char *key, int min, int max, int dflt, int *out,
                   const char *where, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    /* range first: converting an out-of-range double to int is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= min && v->valuedouble <= max) ||
        v->valuedouble != (double)(int)v->valuedouble) {
        snprintf(err, errlen, "%s: \"%s\" must be an integer from %d to %d", where, key, min,
                 max);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int parse_node(const cJSON *o, size_t i, cn_peer_entry *e, char *err, size_t errlen)
{
    char where[32];
    snprintf(where, sizeof where, "nodes[%zu]", i);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "%s must be an object", where);
        return -1;
    }
    if (get_string(o, "name", e->name, sizeof e->name, i, err, errlen) < 0 ||
        get_string(o, "host", e->host, 200, i, err, errlen) < 0 ||
        get_int(o, "port", 0, 65535, 0, &e->port, where, err, errlen) < 0 ||
        get_int(o, "id", 1, 1 << 30, (int)i + 1, &e->id, where, err, errlen) < 0)
        return -1;
    char kind[16];
    if (get_string(o, "kind", kind, sizeof kind, i, err, errlen) < 0)
        return -1;
    if (kind[0] && strcmp(kind, "c") != 0 && strcmp(kind, "erlang") != 0) {
        snprintf(err, errlen, "%s: \"kind\" must be \"c\" or \"erlang\", not \"%s\"", where, kind);
        return -1;
    }
    e->erlang = strcmp(kind, "erlang") == 0;
    if (!e->name[0]) {
        if (!e->host[0] || !e->port) {
            snprintf(err, errlen, "%s: give \"name\", or \"host\" and \"port\"", where);
            return -1;
        }
        snprintf(e->name, sizeof e->name, "n%d@%.200s", e->port, e->host);
    } else {
        const char *at = strchr(e->name, '@');
        if (!at || at == e->name || !at[1] || strchr(at + 1, '@')) {
            snprintf(err, errlen, "%s: \"name\" must look like alive@host, not \"%s\"", where,
                     e->name);
            return -1;
        }
        if (!e->host[0])
            snprintf(e->host, sizeof e->host, "%s", at + 1);
    }
    return 0;
}

int cn_peers_parse(const char *json, cn_peers *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json ? (long)(at - json) : -1;
        snprintf(err, errlen, "not valid JSON (near byte %ld)", off);
        return -1;
    }
    int rc = -1;
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    const cJSON *cookie = cJSON_GetObjectItemCaseSensitive(root, "cookie");
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "the top level must be an object");
        goto done;
    }
    if (!cJSON_IsArray(nodes) || cJSON_GetArraySize(nodes) == 0) {
        snprintf(err, errlen, "\"nodes\" must be a non-empty array");
        goto done;
    }
    if (cookie && (!cJSON_IsString(cookie) || strlen(cookie->valuestring) >= sizeof out->cookie)) {
        snprintf(err, errlen, "\"cookie\" must be a string");
        goto done;
    }
    if (cookie)
        snprintf(out->cookie, sizeof out->cookie, "%s", cookie->valuestring);
    if (get_int(root, "num_nodes", 1, 10000, 0, &out->num_nodes, "top level", err, errlen) < 0 ||
        get_int(root, "num_clients", 0, 100000, 0, &out->num_clients, "top level", err, errlen) < 0)
        goto done;
    size_t n = (size_t)cJSON_GetArraySize(nodes);
    out->nodes = calloc(n, sizeof *out->nodes);
    if (!out->nodes) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    size_t i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, nodes) {
        if (parse_node(o, i, &out->nodes[i], err, errlen) < 0)
            goto done;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(out->nodes[k].name, out->nodes[i].name) == 0) {
                snprintf(err, errlen, "nodes[%zu]: name \"%s\" appears twice", i,
                         out->nodes[i].name);
                goto done;
            }
            if (out->nodes[k].id == out->nodes[i].id) {
                snprintf(err, errlen, "nodes[%zu]: id %d appears twice", i, out->nodes[i].id);
                goto done;
            }
        }
        i++;
    }
    out->count = n;
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc < 0)
        cn_peers_free(out);
    return rc;
}

int cn_peers_load(const char *path, cn_peers *out, char *err, size_t errlen)
{
    char sub[512];
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(PEERS_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, PEERS_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!buf || n > PEERS_MAX_FILE) {
        free(buf);
        snprintf(err, errlen, "%s: too large (over %d bytes)", path, PEERS_MAX_FILE);
        return -1;
    }
    buf[n] = '\0';
    int rc = cn_peers_parse(buf, out, sub, sizeof sub);
    free(buf);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, sub);
    return rc;
}

void cn_peers_free(cn_peers *p)
{
    free(p->nodes);
    memset(p, 0, sizeof *p);
}

const cn_peer_entry *cn_peers_find(const cn_peers *p, const char *node)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->nodes[i].name, node) == 0)
            return &p->nodes[i];
    return NULL;
}
