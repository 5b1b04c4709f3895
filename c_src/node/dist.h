/* dist.h - the distribution protocol after the handshake: packets and the
 * control messages they carry.
 *
 * A packet is a 4-byte big-endian length then that many bytes; length 0 is a
 * tick.  Without the atom cache, a packet is 'p' (112), the control tuple in
 * external format, and for some operations a second term (the message, or
 * the exit reason with DFLAG_EXIT_PAYLOAD).  Parsing is pure and total: any
 * input yields a message or an error, never a read past the packet.
 */
#ifndef CN_DIST_H
#define CN_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "term.h"

/* Distribution flags (kernel/include/dist.hrl). */
#define CN_DFLAG_PUBLISHED          0x1ULL
#define CN_DFLAG_ATOM_CACHE         0x2ULL
#define CN_DFLAG_EXTENDED_REFERENCES 0x4ULL
#define CN_DFLAG_DIST_MONITOR       0x8ULL
#define CN_DFLAG_FUN_TAGS           0x10ULL
#define CN_DFLAG_DIST_MONITOR_NAME  0x20ULL
#define CN_DFLAG_NEW_FUN_TAGS       0x80ULL
#define CN_DFLAG_EXTENDED_PIDS_PORTS 0x100ULL
#define CN_DFLAG_EXPORT_PTR_TAG     0x200ULL
#define CN_DFLAG_BIT_BINARIES       0x400ULL
#define CN_DFLAG_NEW_FLOATS         0x800ULL
#define CN_DFLAG_UNICODE_IO         0x1000ULL
#define CN_DFLAG_DIST_HDR_ATOM_CACHE 0x2000ULL
#define CN_DFLAG_SMALL_ATOM_TAGS    0x4000ULL
#define CN_DFLAG_UTF8_ATOMS         0x10000ULL
#define CN_DFLAG_MAP_TAG            0x20000ULL
#define CN_DFLAG_BIG_CREATION       0x40000ULL
#define CN_DFLAG_SEND_SENDER        0x80000ULL
#define CN_DFLAG_BIG_SEQTRACE_LABELS 0x100000ULL
#define CN_DFLAG_EXIT_PAYLOAD       0x400000ULL
#define CN_DFLAG_FRAGMENTS          0x800000ULL
#define CN_DFLAG_HANDSHAKE_23       0x1000000ULL
#define CN_DFLAG_UNLINK_ID          0x2000000ULL
#define CN_DFLAG_MANDATORY_25_DIGEST 0x4000000ULL
#define CN_DFLAG_SPAWN              (1ULL << 32)
#define CN_DFLAG_NAME_ME            (1ULL << 33)
#define CN_DFLAG_V4_NC              (1ULL << 34)
#define CN_DFLAG_ALIAS              (1ULL << 35)

/* What OTP 25 requires of a peer. */
#define CN_DFLAGS_MANDATORY                                                  \
    (CN_DFLAG_EXTENDED_REFERENCES | CN_DFLAG_FUN_TAGS |                      \
     CN_DFLAG_EXTENDED_PIDS_PORTS | CN_DFLAG_NEW_FUN_TAGS |                  \
     CN_DFLAG_EXPORT_PTR_TAG | CN_DFLAG_BIT_BINARIES | CN_DFLAG_NEW_FLOATS | \
     CN_DFLAG_UTF8_ATOMS | CN_DFLAG_MAP_TAG | CN_DFLAG_BIG_CREATION |        \
     CN_DFLAG_HANDSHAKE_23)

/* What we advertise: the mandatory set plus the features we honour.
 * No atom cache, no fragments, no aliases, no spawn: erts then never sends
 * us what we could not handle.  Hidden node: no DFLAG_PUBLISHED. */
#define CN_DFLAGS_OURS                                                       \
    (CN_DFLAGS_MANDATORY | CN_DFLAG_DIST_MONITOR | CN_DFLAG_DIST_MONITOR_NAME | \
     CN_DFLAG_UNICODE_IO | CN_DFLAG_SMALL_ATOM_TAGS | CN_DFLAG_EXIT_PAYLOAD |  \
     CN_DFLAG_UNLINK_ID | CN_DFLAG_V4_NC)

/* Control message operations. */
enum cn_dop {
    CN_DOP_LINK = 1,
    CN_DOP_SEND = 2,
    CN_DOP_EXIT = 3,
    CN_DOP_UNLINK = 4,
    CN_DOP_NODE_LINK = 5,
    CN_DOP_REG_SEND = 6,
    CN_DOP_GROUP_LEADER = 7,
    CN_DOP_EXIT2 = 8,
    CN_DOP_SEND_TT = 12,
    CN_DOP_EXIT_TT = 13,
    CN_DOP_REG_SEND_TT = 16,
    CN_DOP_EXIT2_TT = 18,
    CN_DOP_MONITOR_P = 19,
    CN_DOP_DEMONITOR_P = 20,
    CN_DOP_MONITOR_P_EXIT = 21,
    CN_DOP_SEND_SENDER = 22,
    CN_DOP_SEND_SENDER_TT = 23,
    CN_DOP_PAYLOAD_EXIT = 24,
    CN_DOP_PAYLOAD_EXIT_TT = 25,
    CN_DOP_PAYLOAD_EXIT2 = 26,
    CN_DOP_PAYLOAD_EXIT2_TT = 27,
    CN_DOP_PAYLOAD_MONITOR_P_EXIT = 28,
    CN_DOP_UNLINK_ID = 35,
    CN_DOP_UNLINK_ID_ACK = 36,
};

/* The meaning of a control message, with *_TT and PAYLOAD_* variants
 * folded into their base operation. */
typedef enum cn_dist_kind {
    CN_DIST_SEND,            /* to: pid, msg */
    CN_DIST_REG_SEND,        /* from, to_name, msg */
    CN_DIST_LINK,            /* from, to */
    CN_DIST_UNLINK,          /* from, to, id (0 for the old UNLINK) */
    CN_DIST_UNLINK_ACK,      /* from, to, id */
    CN_DIST_EXIT,            /* from, to, reason (link broken) */
    CN_DIST_EXIT2,           /* from, to, reason (exit/2) */
    CN_DIST_MONITOR,         /* from, to or to_name, ref */
    CN_DIST_DEMONITOR,       /* from, to or to_name, ref */
    CN_DIST_MONITOR_EXIT,    /* from or from_name, to, ref, reason */
    CN_DIST_GROUP_LEADER,    /* ignored */
    CN_DIST_NODE_LINK,       /* ignored */
} cn_dist_kind;

typedef struct cn_dist_msg {
    cn_dist_kind kind;
    int          op;                  /* the raw operation */
    cn_pid       from, to;
    int          from_is_name, to_is_name;
    char         from_name[CN_ATOM_BUF];  /* set when *_is_name */
    char         to_name[CN_ATOM_BUF];
    cn_ref       ref;
    uint64_t     id;                  /* UNLINK_ID */
    cn_term      msg;                 /* SEND / REG_SEND payload */
    cn_term      reason;              /* EXIT / EXIT2 / MONITOR_P_EXIT */
} cn_dist_msg;

/* Frames. */
typedef enum cn_frame_result {
    CN_FRAME_MORE = 0,       /* incomplete: read more */
    CN_FRAME_TICK = 1,
    CN_FRAME_PACKET = 2,
    CN_FRAME_TOO_BIG = -1,
} cn_frame_result;

/* Looks at buf[0..len): on PACKET, body and body_len give the packet and
 * *used its size with the header; on TICK *used is 4; on MORE, *need says
 * how many bytes the whole frame needs (0 if unknown yet). */
cn_frame_result cn_frame_next(const char *buf, size_t len, size_t max_packet,
                              const char **body, size_t *body_len,
                              size_t *used, size_t *need);

/* Parses a packet into m.  Returns 0, or -1 with *why set to a static
 * description of what was wrong. */
int cn_dist_parse(const char *pkt, size_t len, cn_dist_msg *m, const char **why);

/* Encoders: each appends one whole frame (length header included).
 * peer_flags picks the variant the peer understands. */
void cn_dist_put_tick(cn_buf *out);
void cn_dist_put_send(cn_buf *out, const cn_pid *to, const cn_term *msg);
void cn_dist_put_reg_send(cn_buf *out, const cn_pid *from, const char *to_name,
                          const cn_term *msg);
void cn_dist_put_link(cn_buf *out, const cn_pid *from, const cn_pid *to);
void cn_dist_put_unlink(cn_buf *out, uint64_t peer_flags, uint64_t id,
                        const cn_pid *from, const cn_pid *to);
void cn_dist_put_unlink_ack(cn_buf *out, uint64_t id, const cn_pid *from,
                            const cn_pid *to);
void cn_dist_put_exit(cn_buf *out, uint64_t peer_flags, int exit2,
                      const cn_pid *from, const cn_pid *to, const cn_term *reason);
/* to_name NULL: monitor the pid `to`. */
void cn_dist_put_monitor(cn_buf *out, int demonitor, const cn_pid *from,
                         const cn_pid *to, const char *to_name, const cn_ref *ref);
/* from_name NULL: the monitored process is the pid `from`. */
void cn_dist_put_monitor_exit(cn_buf *out, uint64_t peer_flags, const cn_pid *from,
                              const char *from_name, const cn_pid *to,
                              const cn_ref *ref, const cn_term *reason);

#endif
