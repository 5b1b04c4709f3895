/* addr.c - socket addresses of either family (IPv4 for inet_tcp and
 * inet_tls, IPv6 for inet6_tcp and inet6_tls): their ports, their text for
 * logs, and the loopback fallback erl uses for its own host name.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

int cn__addr_port(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return ntohs(((const struct sockaddr_in *)a)->sin_port);
}

void cn__addr_set_port(struct sockaddr *a, int port)
{
    if (a->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)a)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)a)->sin_port = htons((uint16_t)port);
}

const char *cn__addr_text(const struct sockaddr *a, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    const void *raw = a->sa_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
    if (!inet_ntop(a->sa_family, raw, ip, sizeof ip))
        snprintf(ip, sizeof ip, "?");
    snprintf(buf, size, a->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip,
             cn__addr_port(a));
    return buf;
}

/* Whether host names this machine: its host name, or that name's first
 * label (case does not matter, as in /etc/hosts). */
static int own_host(const char *host)
{
    char self[256];
    if (gethostname(self, sizeof self) < 0)
        return 0;
    self[sizeof self - 1] = '\0';
    if (strcasecmp(host, self) == 0)
        return 1;
    size_t label = strcspn(self, ".");
    return strlen(host) == label && strncasecmp(host, self, label) == 0;
}

socklen_t cn__addr_loopback(int family, int port, struct sockaddr_storage *a)
{
    memset(a, 0, sizeof *a);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)a;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        a6->sin6_addr = in6addr_loopback;
        return sizeof *a6;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)a;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof *a4;
}

int cn__addr_own_loopback(const char *host, int family, struct sockaddr_storage *a)
{
    if (!own_host(host) && strcasecmp(host, "localhost") != 0)
        return -1;
    cn__addr_loopback(family, 0, a);
    return 0;
}
