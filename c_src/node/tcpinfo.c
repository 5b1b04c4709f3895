/* tcpinfo.c - the kernel's per-socket TCP counters (Linux TCP_INFO).
 *
 * A file of its own because the full struct tcp_info (with the byte and
 * segment counters) is in <linux/tcp.h>, which clashes with the older
 * <netinet/tcp.h> that libuv's headers bring into every other file.
 */
#include "tcpinfo.h"

#ifdef __linux__
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/tcp.h>

int cn__tcp_info(int fd, cn_tcp_info *out)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
        len < offsetof(struct tcp_info, tcpi_data_segs_in) + sizeof ti.tcpi_data_segs_in)
        return -1;
    out->rtt_us = ti.tcpi_rtt;
    out->bytes_in = ti.tcpi_bytes_received;
    out->data_segs_in = ti.tcpi_data_segs_in;
    return 0;
}
#else
int cn__tcp_info(int fd, cn_tcp_info *out)
{
    (void)fd;
    (void)out;
    return -1;
}
#endif
