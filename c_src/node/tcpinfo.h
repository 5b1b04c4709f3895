/* tcpinfo.h - the kernel's per-socket TCP counters that rxbatch.c reads. */
#ifndef CN_TCPINFO_H
#define CN_TCPINFO_H

#include <stdint.h>

typedef struct cn_tcp_info {
    uint32_t rtt_us;            /* smoothed round-trip time */
    uint64_t bytes_in;          /* payload bytes received */
    uint32_t data_segs_in;      /* segments received that carried data */
} cn_tcp_info;

/* 0, or -1 where the kernel does not tell (not Linux, or too old). */
int cn__tcp_info(int fd, cn_tcp_info *out);

#endif
