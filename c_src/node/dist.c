/* dist.c - distribution packets: framing, control message parse and encode.
 * See dist.h for the wire format.  Pure: no I/O, no allocation but the
 * output buffer (and the node names met in control messages, which are the
 * runtime's: weak, atom.c).
 */
#include <string.h>

#include "dist.h"
#include "term_ext.h"

#define PASS_THROUGH 'p'

cn_frame_result cn_frame_next(const char *buf, size_t len, size_t max_packet,
                              const char **body, size_t *body_len,
                              size_t *used, size_t *need)
{
    *need = 0;
    if (len < 4) {
        *need = 4;
        return CN_FRAME_MORE;
    }
    uint32_t n = cn_get32((const unsigned char *)buf);
    if (n == 0) {
        *used = 4;
        return CN_FRAME_TICK;
    }
    if (n > max_packet)
        return CN_FRAME_TOO_BIG;
    if (len - 4 < n) {
        *need = (size_t)n + 4;
        return CN_FRAME_MORE;
    }
    *body = buf + 4;
    *body_len = n;
    *used = (size_t)n + 4;
    return CN_FRAME_PACKET;
}

/* ---- parsing ------------------------------------------------------------ */

static int ext_term(const char *pkt, size_t len, size_t *pos, cn_term *t)
{
    if (*pos >= len || (unsigned char)pkt[*pos] != CN_EXT_VERSION)
        return -1;
    size_t start = ++*pos;
    if (cn_term_check(pkt, len, pos) < 0)
        return -1;
    t->data = pkt + start;
    t->len = *pos - start;
    return 0;
}

/* A process reference in a monitor message: a pid or a registered name. */
static int pid_or_name(const cn_term *t, cn_pid *pid, int *is_name, char *name)
{
    *is_name = 0;
    if (cn__term_get_pid(t, pid, CN_NODE_WEAK) == 0)
        return 0;
    if (cn__term_match_weak(t, "~a", name)) {
        *is_name = 1;
        return 0;
    }
    return -1;
}

static int parse_monitor(const cn_term *ctl, cn_dist_msg *m, int demonitor)
{
    cn_term to;
    const char *pat = demonitor ? "{20, ~p, ~t, ~r}" : "{19, ~p, ~t, ~r}";
    if (!cn__term_match_weak(ctl, pat, &m->from, &to, &m->ref))
        return -1;
    m->kind = demonitor ? CN_DIST_DEMONITOR : CN_DIST_MONITOR;
    return pid_or_name(&to, &m->to, &m->to_is_name, m->to_name);
}

static int parse_monitor_exit(const cn_term *ctl, cn_dist_msg *m, int payload)
{
    cn_term from;
    int ok = payload ? cn__term_match_weak(ctl, "{28, ~t, ~p, ~r}", &from, &m->to, &m->ref)
                     : cn__term_match_weak(ctl, "{21, ~t, ~p, ~r, ~t}", &from, &m->to,
                                           &m->ref, &m->reason);
    if (!ok)
        return -1;
    m->kind = CN_DIST_MONITOR_EXIT;
    return pid_or_name(&from, &m->from, &m->from_is_name, m->from_name);
}

/* Decodes the control tuple; says whether a second term must follow and
 * where it goes. */
static int parse_control(const cn_term *ctl, cn_dist_msg *m, cn_term **second)
{
    cn_term tt;
    *second = NULL;
    switch (m->op) {
    case CN_DOP_SEND:
        m->kind = CN_DIST_SEND;
        *second = &m->msg;
        return cn__term_match_weak(ctl, "{2, _, ~p}", &m->to) ? 0 : -1;
    case CN_DOP_SEND_TT:
        m->kind = CN_DIST_SEND;
        *second = &m->msg;
        return cn__term_match_weak(ctl, "{12, _, ~p, _}", &m->to) ? 0 : -1;
    case CN_DOP_SEND_SENDER:
        m->kind = CN_DIST_SEND;
        *second = &m->msg;
        return cn__term_match_weak(ctl, "{22, ~p, ~p}", &m->from, &m->to) ? 0 : -1;
    case CN_DOP_SEND_SENDER_TT:
        m->kind = CN_DIST_SEND;
        *second = &m->msg;
        return cn__term_match_weak(ctl, "{23, ~p, ~p, _}", &m->from, &m->to) ? 0 : -1;
    case CN_DOP_REG_SEND:
        m->kind = CN_DIST_REG_SEND;
        m->to_is_name = 1;
        *second = &m->msg;
        return cn__term_match_weak(ctl, "{6, ~p, _, ~a}", &m->from, m->to_name) ? 0 : -1;
    case CN_DOP_REG_SEND_TT:
        m->kind = CN_DIST_REG_SEND;
        m->to_is_name = 1;
        *second = &m->msg;
        return cn__term_match_weak(ctl, "{16, ~p, _, ~a, _}", &m->from, m->to_name) ? 0 : -1;
    case CN_DOP_LINK:
        m->kind = CN_DIST_LINK;
        return cn__term_match_weak(ctl, "{1, ~p, ~p}", &m->from, &m->to) ? 0 : -1;
    case CN_DOP_UNLINK:
        m->kind = CN_DIST_UNLINK;
        return cn__term_match_weak(ctl, "{4, ~p, ~p}", &m->from, &m->to) ? 0 : -1;
    case CN_DOP_UNLINK_ID:
    case CN_DOP_UNLINK_ID_ACK:
        m->kind = m->op == CN_DOP_UNLINK_ID ? CN_DIST_UNLINK : CN_DIST_UNLINK_ACK;
        if (!cn__term_match_weak(ctl, "{_, ~t, ~p, ~p}", &tt, &m->from, &m->to))
            return -1;
        if (!cn__term_match_weak(&tt, "~u", &m->id) || m->id == 0)
            return -1;
        return 0;
    case CN_DOP_EXIT:
    case CN_DOP_EXIT2:
        m->kind = m->op == CN_DOP_EXIT ? CN_DIST_EXIT : CN_DIST_EXIT2;
        return cn__term_match_weak(ctl, "{_, ~p, ~p, ~t}", &m->from, &m->to, &m->reason) ? 0 : -1;
    case CN_DOP_EXIT_TT:
    case CN_DOP_EXIT2_TT:
        m->kind = m->op == CN_DOP_EXIT_TT ? CN_DIST_EXIT : CN_DIST_EXIT2;
        return cn__term_match_weak(ctl, "{_, ~p, ~p, _, ~t}", &m->from, &m->to, &m->reason)
               ? 0 : -1;
    case CN_DOP_PAYLOAD_EXIT:
    case CN_DOP_PAYLOAD_EXIT2:
        m->kind = m->op == CN_DOP_PAYLOAD_EXIT ? CN_DIST_EXIT : CN_DIST_EXIT2;
        *second = &m->reason;
        return cn__term_match_weak(ctl, "{_, ~p, ~p}", &m->from, &m->to) ? 0 : -1;
    case CN_DOP_PAYLOAD_EXIT_TT:
    case CN_DOP_PAYLOAD_EXIT2_TT:
        m->kind = m->op == CN_DOP_PAYLOAD_EXIT_TT ? CN_DIST_EXIT : CN_DIST_EXIT2;
        *second = &m->reason;
        return cn__term_match_weak(ctl, "{_, ~p, ~p, _}", &m->from, &m->to) ? 0 : -1;
    case CN_DOP_MONITOR_P:
        return parse_monitor(ctl, m, 0);
    case CN_DOP_DEMONITOR_P:
        return parse_monitor(ctl, m, 1);
    case CN_DOP_MONITOR_P_EXIT:
        return parse_monitor_exit(ctl, m, 0);
    case CN_DOP_PAYLOAD_MONITOR_P_EXIT:
        *second = &m->reason;
        return parse_monitor_exit(ctl, m, 1);
    case CN_DOP_GROUP_LEADER:
        m->kind = CN_DIST_GROUP_LEADER;
        return cn__term_match_weak(ctl, "{7, ~p, ~p}", &m->from, &m->to) ? 0 : -1;
    case CN_DOP_NODE_LINK:
        m->kind = CN_DIST_NODE_LINK;
        return cn__term_match_weak(ctl, "{5}") ? 0 : -1;
    default:
        return -1;
    }
}

int cn_dist_parse(const char *pkt, size_t len, cn_dist_msg *m, const char **why)
{
    size_t pos = 1;
    cn_term ctl;
    cn_term *second;

    m->from_is_name = m->to_is_name = 0;
    m->msg.len = m->reason.len = 0;
    m->id = 0;
    if (len < 1 || pkt[0] != PASS_THROUGH) {
        *why = "packet is not a pass-through ('p') packet";
        return -1;
    }
    if (ext_term(pkt, len, &pos, &ctl) < 0) {
        *why = "malformed control term";
        return -1;
    }
    cn_term op;
    long long opv;
    if (cn_term_element(&ctl, 0, &op, NULL) < 0 || cn_term_get_long(&op, &opv) < 0 ||
        opv < 0 || opv > 255) {
        *why = "control message is not a tuple starting with an operation";
        return -1;
    }
    m->op = (int)opv;
    if (parse_control(&ctl, m, &second) < 0) {
        *why = "unknown or malformed control message";
        return -1;
    }
    if (second) {
        if (ext_term(pkt, len, &pos, second) < 0) {
            *why = "malformed message term";
            return -1;
        }
    }
    if (pos != len) {
        *why = "trailing bytes after the control message";
        return -1;
    }
    return 0;
}

/* ---- encoding ----------------------------------------------------------- */

/* Starts a frame: length placeholder, 'p', version; returns its offset. */
static size_t frame_begin(cn_buf *out)
{
    size_t at = out->len;
    cn_buf_put32(out, 0);
    cn_buf_put8(out, PASS_THROUGH);
    cn_buf_put8(out, CN_EXT_VERSION);
    return at;
}

static void frame_second(cn_buf *out, const cn_term *t)
{
    cn_buf_put8(out, CN_EXT_VERSION);
    cn_term_put_term(out, t);
}

static void frame_end(cn_buf *out, size_t at)
{
    if (cn_buf_failed(out))
        return;
    uint32_t n = (uint32_t)(out->len - at - 4);
    unsigned char *p = (unsigned char *)out->data + at;
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
}

void cn_dist_put_tick(cn_buf *out) { cn_buf_put32(out, 0); }

void cn_dist_put_send(cn_buf *out, const cn_pid *to, const cn_term *msg)
{
    size_t at = frame_begin(out);
    cn_term_build(out, "{2, '', ~p}", to);
    frame_second(out, msg);
    frame_end(out, at);
}

void cn_dist_put_reg_send(cn_buf *out, const cn_pid *from, const char *to_name,
                          const cn_term *msg)
{
    size_t at = frame_begin(out);
    cn_term_build(out, "{6, ~p, '', ~a}", from, to_name);
    frame_second(out, msg);
    frame_end(out, at);
}

void cn_dist_put_link(cn_buf *out, const cn_pid *from, const cn_pid *to)
{
    size_t at = frame_begin(out);
    cn_term_build(out, "{1, ~p, ~p}", from, to);
    frame_end(out, at);
}

void cn_dist_put_unlink(cn_buf *out, uint64_t peer_flags, uint64_t id,
                        const cn_pid *from, const cn_pid *to)
{
    size_t at = frame_begin(out);
    if (peer_flags & CN_DFLAG_UNLINK_ID)
        cn_term_build(out, "{35, ~u, ~p, ~p}", id, from, to);
    else
        cn_term_build(out, "{4, ~p, ~p}", from, to);
    frame_end(out, at);
}

void cn_dist_put_unlink_ack(cn_buf *out, uint64_t id, const cn_pid *from,
                            const cn_pid *to)
{
    size_t at = frame_begin(out);
    cn_term_build(out, "{36, ~u, ~p, ~p}", id, from, to);
    frame_end(out, at);
}

void cn_dist_put_exit(cn_buf *out, uint64_t peer_flags, int exit2,
                      const cn_pid *from, const cn_pid *to, const cn_term *reason)
{
    size_t at = frame_begin(out);
    if (peer_flags & CN_DFLAG_EXIT_PAYLOAD) {
        cn_term_build(out, "{~i, ~p, ~p}",
                      exit2 ? CN_DOP_PAYLOAD_EXIT2 : CN_DOP_PAYLOAD_EXIT, from, to);
        frame_second(out, reason);
    } else {
        cn_term_build(out, "{~i, ~p, ~p, ~t}", exit2 ? CN_DOP_EXIT2 : CN_DOP_EXIT,
                      from, to, reason);
    }
    frame_end(out, at);
}

void cn_dist_put_monitor(cn_buf *out, int demonitor, const cn_pid *from,
                         const cn_pid *to, const char *to_name, const cn_ref *ref)
{
    size_t at = frame_begin(out);
    int op = demonitor ? CN_DOP_DEMONITOR_P : CN_DOP_MONITOR_P;
    if (to_name)
        cn_term_build(out, "{~i, ~p, ~a, ~r}", op, from, to_name, ref);
    else
        cn_term_build(out, "{~i, ~p, ~p, ~r}", op, from, to, ref);
    frame_end(out, at);
}

void cn_dist_put_monitor_exit(cn_buf *out, uint64_t peer_flags, const cn_pid *from,
                              const char *from_name, const cn_pid *to,
                              const cn_ref *ref, const cn_term *reason)
{
    size_t at = frame_begin(out);
    int payload = (peer_flags & CN_DFLAG_EXIT_PAYLOAD) != 0;
    cn_term_put_tuple(out, payload ? 4 : 5);
    cn_term_put_long(out, payload ? CN_DOP_PAYLOAD_MONITOR_P_EXIT : CN_DOP_MONITOR_P_EXIT);
    if (from_name)
        cn_term_put_atom(out, from_name);
    else
        cn_term_put_pid(out, from);
    cn_term_put_pid(out, to);
    cn_term_put_ref(out, ref);
    if (payload)
        frame_second(out, reason);
    else
        cn_term_put_term(out, reason);
    frame_end(out, at);
}
