/* dist_test.c - unit tests of distribution framing and control messages
 * (dist.h): frames, parse of hand-built and erl-made packets of every kind,
 * rejection of malformed packets, and encode -> parse round trips of every
 * encoder for peers with and without EXIT_PAYLOAD / UNLINK_ID. */
#include <stdlib.h>
#include <string.h>

#include "../../c_src/node/dist.h"
#include "check.h"

/* Made by erl (OTP 25) with term_to_binary; regenerate with
 * `escript test/fuzz/gen_corpus.escript hex`.  Each is a whole frame:
 * length, 'p', control tuple, and the message or reason if any.
 *   F = <peer@host.70.1> creation 5, T = <cn@host.2.0> creation 9,
 *   R = #Ref<peer@host.33.22.11> creation 5, Tok = {0,1,2,F,3},
 *   Msg = {hello,[1,2,3],#{k=><<"v">>}}, Reason = {shutdown,normal}. */
#define PKT_SEND "0000004070836803610264000058640007636E40686F737400000002000000000000000983680364000568656C6C6F6B000301020374000000016400016B6D0000000176"
#define PKT_SEND_TT "0000006370836804610C64000058640007636E40686F73740000000200000000000000096805610061016102586400097065657240686F7374000000460000000100000005610383680364000568656C6C6F6B000301020374000000016400016B6D0000000176"
#define PKT_SEND_SENDER "00000056708368036116586400097065657240686F737400000046000000010000000558640007636E40686F737400000002000000000000000983680364000568656C6C6F6B000301020374000000016400016B6D0000000176"
#define PKT_SEND_SENDER_TT "00000079708368046117586400097065657240686F737400000046000000010000000558640007636E40686F73740000000200000000000000096805610061016102586400097065657240686F7374000000460000000100000005610383680364000568656C6C6F6B000301020374000000016400016B6D0000000176"
#define PKT_REG_SEND "00000049708368046106586400097065657240686F73740000004600000001000000056400006400046563686F83680364000568656C6C6F6B000301020374000000016400016B6D0000000176"
#define PKT_REG_SEND_TT "0000006C708368056110586400097065657240686F73740000004600000001000000056400006400046563686F6805610061016102586400097065657240686F7374000000460000000100000005610383680364000568656C6C6F6B000301020374000000016400016B6D0000000176"
#define PKT_LINK "00000036708368036101586400097065657240686F737400000046000000010000000558640007636E40686F7374000000020000000000000009"
#define PKT_UNLINK "00000036708368036104586400097065657240686F737400000046000000010000000558640007636E40686F7374000000020000000000000009"
#define PKT_UNLINK_ID "000000387083680461236111586400097065657240686F737400000046000000010000000558640007636E40686F7374000000020000000000000009"
#define PKT_UNLINK_ID_ACK "000000387083680461246111586400097065657240686F737400000046000000010000000558640007636E40686F7374000000020000000000000009"
#define PKT_EXIT "0000004C708368046103586400097065657240686F737400000046000000010000000558640007636E40686F7374000000020000000000000009680264000873687574646F776E6400066E6F726D616C"
#define PKT_EXIT_TT "0000006F70836805610D586400097065657240686F737400000046000000010000000558640007636E40686F73740000000200000000000000096805610061016102586400097065657240686F73740000004600000001000000056103680264000873687574646F776E6400066E6F726D616C"
#define PKT_EXIT2 "0000003D708368046108586400097065657240686F737400000046000000010000000558640007636E40686F73740000000200000000000000096400046B696C6C"
#define PKT_EXIT2_TT "00000060708368056112586400097065657240686F737400000046000000010000000558640007636E40686F73740000000200000000000000096805610061016102586400097065657240686F737400000046000000010000000561036400046B696C6C"
#define PKT_PAYLOAD_EXIT "0000004D708368036118586400097065657240686F737400000046000000010000000558640007636E40686F737400000002000000000000000983680264000873687574646F776E6400066E6F726D616C"
#define PKT_PAYLOAD_EXIT_TT "00000070708368046119586400097065657240686F737400000046000000010000000558640007636E40686F73740000000200000000000000096805610061016102586400097065657240686F7374000000460000000100000005610383680264000873687574646F776E6400066E6F726D616C"
#define PKT_PAYLOAD_EXIT2 "0000003E70836803611A586400097065657240686F737400000046000000010000000558640007636E40686F7374000000020000000000000009836400046B696C6C"
#define PKT_PAYLOAD_EXIT2_TT "0000006170836804611B586400097065657240686F737400000046000000010000000558640007636E40686F73740000000200000000000000096805610061016102586400097065657240686F73740000004600000001000000056103836400046B696C6C"
#define PKT_MONITOR_P "00000055708368046113586400097065657240686F737400000046000000010000000558640007636E40686F73740000000200000000000000095A00036400097065657240686F7374000000050000000B0000001600000021"
#define PKT_MONITOR_P_NAME "00000045708368046113586400097065657240686F73740000004600000001000000056400046563686F5A00036400097065657240686F7374000000050000000B0000001600000021"
#define PKT_DEMONITOR_P "00000055708368046114586400097065657240686F737400000046000000010000000558640007636E40686F73740000000200000000000000095A00036400097065657240686F7374000000050000000B0000001600000021"
#define PKT_DEMONITOR_P_NAME "00000045708368046114586400097065657240686F73740000004600000001000000056400046563686F5A00036400097065657240686F7374000000050000000B0000001600000021"
#define PKT_MONITOR_P_EXIT "0000005E70836805611558640007636E40686F7374000000020000000000000009586400097065657240686F73740000004600000001000000055A00036400097065657240686F7374000000050000000B00000016000000216400066E6F70726F63"
#define PKT_MONITOR_P_EXIT_NAME "0000004E7083680561156400046563686F586400097065657240686F73740000004600000001000000055A00036400097065657240686F7374000000050000000B00000016000000216400066E6F70726F63"
#define PKT_PAYLOAD_MONITOR_P_EXIT "0000006C70836804611C58640007636E40686F7374000000020000000000000009586400097065657240686F73740000004600000001000000055A00036400097065657240686F7374000000050000000B000000160000002183680264000873687574646F776E6400066E6F726D616C"
#define PKT_PAYLOAD_MONITOR_P_EXIT_NAME "0000005570836804611C6400046563686F586400097065657240686F73740000004600000001000000055A00036400097065657240686F7374000000050000000B00000016000000218364000C6E6F636F6E6E656374696F6E"
#define PKT_GROUP_LEADER "00000036708368036107586400097065657240686F737400000046000000010000000558640007636E40686F7374000000020000000000000009"
#define PKT_NODE_LINK "00000006708368016105"
#define PKT_TICK "00000000"

#define MSG_HEX "6803640005" "68656C6C6F6B00030102037400000001640001" "6B6D0000000176"
#define REASON_HEX "680264000873687574646F776E6400066E6F726D616C"

/* Hex to an exactly sized heap buffer, so ASan sees any read past it. */
static char *hex_buf(const char *h, size_t *len)
{
    char *b = malloc(strlen(h) / 2 + 1);
    *len = unhex(h, b);
    char *exact = malloc(*len ? *len : 1);
    memcpy(exact, b, *len);
    free(b);
    return exact;
}

static cn_dist_msg msg;                  /* big: keep it off the stack */
static const char *why;

/* Frames the hex and parses its one packet into msg; 0 or -1. */
static int parse_frame_hex(const char *h)
{
    size_t len, body_len = 0, used = 0, need = 0;
    const char *body = NULL;
    char *f = hex_buf(h, &len);
    int r = -1;
    if (cn_frame_next(f, len, 1 << 20, &body, &body_len, &used, &need) == CN_FRAME_PACKET &&
        used == len) {
        char *pkt = malloc(body_len);
        memcpy(pkt, body, body_len);
        why = NULL;
        r = cn_dist_parse(pkt, body_len, &msg, &why);
        /* views into the packet die with it: keep copies for the checks */
        static char keep[2][4096];
        if (r == 0) {
            if (msg.msg.len && msg.msg.len <= sizeof keep[0]) {
                memcpy(keep[0], msg.msg.data, msg.msg.len);
                msg.msg.data = keep[0];
            }
            if (msg.reason.len && msg.reason.len <= sizeof keep[1]) {
                memcpy(keep[1], msg.reason.data, msg.reason.len);
                msg.reason.data = keep[1];
            }
        }
        free(pkt);
    }
    free(f);
    return r;
}

/* Parses a bare packet given in hex. */
static int parse_pkt_hex(const char *h)
{
    size_t len;
    char *p = hex_buf(h, &len);
    why = NULL;
    int r = cn_dist_parse(p, len, &msg, &why);
    free(p);
    return r;
}

static int term_is_hex(const cn_term *t, const char *h)
{
    char buf[256];
    size_t n = unhex(h, buf);
    return t->len == n && memcmp(t->data, buf, n) == 0;
}

static cn_pid F, T;
static cn_ref R;

static int is_F(const cn_pid *p) { return cn_pid_eq(p, &F); }
static int is_T(const cn_pid *p) { return cn_pid_eq(p, &T); }

/* ---- framing --------------------------------------------------------------- */

static void test_frames(void)
{
    const char *body;
    size_t body_len, used, need;
    char b[16] = { 0, 0, 0, 3, 'p', 'q', 'r', 0, 0, 0, 0, 9, 9 };

    /* nothing, and a partial length header */
    for (size_t n = 0; n < 4; n++) {
        need = 99;
        CHECK(cn_frame_next(b, n, 100, &body, &body_len, &used, &need) == CN_FRAME_MORE);
        CHECK(need == 4);
    }
    /* a partial body says how much the whole frame needs */
    for (size_t n = 4; n < 7; n++) {
        CHECK(cn_frame_next(b, n, 100, &body, &body_len, &used, &need) == CN_FRAME_MORE);
        CHECK(need == 7);
    }
    /* exactly one packet, then one with bytes after it */
    CHECK(cn_frame_next(b, 7, 100, &body, &body_len, &used, &need) == CN_FRAME_PACKET);
    CHECK(body == b + 4 && body_len == 3 && used == 7 && memcmp(body, "pqr", 3) == 0);
    CHECK(cn_frame_next(b, 13, 100, &body, &body_len, &used, &need) == CN_FRAME_PACKET);
    CHECK(used == 7);
    /* a tick after it */
    CHECK(cn_frame_next(b + 7, 6, 100, &body, &body_len, &used, &need) == CN_FRAME_TICK);
    CHECK(used == 4);
    /* a tick is a tick whatever max_packet */
    CHECK(cn_frame_next(b + 7, 4, 0, &body, &body_len, &used, &need) == CN_FRAME_TICK);
    /* the limit: equal is fine, one more is too big, even before the body */
    CHECK(cn_frame_next(b, 7, 3, &body, &body_len, &used, &need) == CN_FRAME_PACKET);
    CHECK(cn_frame_next(b, 7, 2, &body, &body_len, &used, &need) == CN_FRAME_TOO_BIG);
    CHECK(cn_frame_next(b, 4, 2, &body, &body_len, &used, &need) == CN_FRAME_TOO_BIG);
    char huge[4] = { (char)0xFF, (char)0xFF, (char)0xFF, (char)0xFF };
    CHECK(cn_frame_next(huge, 4, 1 << 20, &body, &body_len, &used, &need) == CN_FRAME_TOO_BIG);
    CHECK(cn_frame_next(huge, 4, SIZE_MAX, &body, &body_len, &used, &need) == CN_FRAME_MORE);
    CHECK(need == 0xFFFFFFFFull + 4);

    /* our tick */
    cn_buf out;
    cn_buf_init(&out);
    cn_dist_put_tick(&out);
    CHECK(out.len == 4 && memcmp(out.data, "\0\0\0\0", 4) == 0);
    cn_buf_free(&out);

    /* a stream of erl frames split anywhere still yields them in order */
    char *stream = malloc(4096);
    size_t len = 0;
    len += unhex(PKT_SEND, stream + len);
    len += unhex(PKT_TICK, stream + len);
    len += unhex(PKT_LINK, stream + len);
    int kinds[3] = { -1, -1, -1 }, nk = 0;
    size_t off = 0;
    for (size_t end = 0; end <= len; end++) {
        for (;;) {
            cn_frame_result r = cn_frame_next(stream + off, end - off, 1 << 20, &body,
                                              &body_len, &used, &need);
            if (r == CN_FRAME_MORE)
                break;
            CHECK(r == CN_FRAME_PACKET || r == CN_FRAME_TICK);
            if (r == CN_FRAME_PACKET && nk < 3) {
                CHECK(cn_dist_parse(body, body_len, &msg, &why) == 0);
                kinds[nk++] = msg.kind;
            } else if (nk < 3) {
                kinds[nk++] = 100;
            }
            off += used;
        }
    }
    CHECK(off == len && nk == 3);
    CHECK(kinds[0] == CN_DIST_SEND && kinds[1] == 100 && kinds[2] == CN_DIST_LINK);
    free(stream);
}

/* ---- erl-made packets of every kind -------------------------------------- */

static void test_erl_packets(void)
{
    static const struct { const char *hex; int op; int kind; } sends[] = {
        { PKT_SEND, CN_DOP_SEND, CN_DIST_SEND },
        { PKT_SEND_TT, CN_DOP_SEND_TT, CN_DIST_SEND },
        { PKT_SEND_SENDER, CN_DOP_SEND_SENDER, CN_DIST_SEND },
        { PKT_SEND_SENDER_TT, CN_DOP_SEND_SENDER_TT, CN_DIST_SEND },
        { PKT_REG_SEND, CN_DOP_REG_SEND, CN_DIST_REG_SEND },
        { PKT_REG_SEND_TT, CN_DOP_REG_SEND_TT, CN_DIST_REG_SEND },
    };
    for (size_t i = 0; i < sizeof sends / sizeof sends[0]; i++) {
        CHECK(parse_frame_hex(sends[i].hex) == 0);
        CHECK(msg.op == sends[i].op && (int)msg.kind == sends[i].kind);
        CHECK(term_is_hex(&msg.msg, MSG_HEX));
        CHECK(cn_term_match(&msg.msg, "{hello, [1, 2, 3], ~M}", &(cn_term){ 0 }));
        if (sends[i].kind == CN_DIST_SEND) {
            CHECK(is_T(&msg.to) && !msg.to_is_name);
        } else {
            CHECK(is_F(&msg.from) && msg.to_is_name && strcmp(msg.to_name, "echo") == 0);
        }
        if (sends[i].op == CN_DOP_SEND_SENDER || sends[i].op == CN_DOP_SEND_SENDER_TT)
            CHECK(is_F(&msg.from));
    }

    CHECK(parse_frame_hex(PKT_LINK) == 0);
    CHECK(msg.op == CN_DOP_LINK && msg.kind == CN_DIST_LINK && is_F(&msg.from) && is_T(&msg.to));
    CHECK(parse_frame_hex(PKT_UNLINK) == 0);
    CHECK(msg.op == CN_DOP_UNLINK && msg.kind == CN_DIST_UNLINK && msg.id == 0);
    CHECK(is_F(&msg.from) && is_T(&msg.to));
    CHECK(parse_frame_hex(PKT_UNLINK_ID) == 0);
    CHECK(msg.op == CN_DOP_UNLINK_ID && msg.kind == CN_DIST_UNLINK && msg.id == 17);
    CHECK(is_F(&msg.from) && is_T(&msg.to));
    CHECK(parse_frame_hex(PKT_UNLINK_ID_ACK) == 0);
    CHECK(msg.op == CN_DOP_UNLINK_ID_ACK && msg.kind == CN_DIST_UNLINK_ACK && msg.id == 17);
    CHECK(is_F(&msg.from) && is_T(&msg.to));

    static const struct { const char *hex; int op; int kind; int shutdown; } exits[] = {
        { PKT_EXIT, CN_DOP_EXIT, CN_DIST_EXIT, 1 },
        { PKT_EXIT_TT, CN_DOP_EXIT_TT, CN_DIST_EXIT, 1 },
        { PKT_EXIT2, CN_DOP_EXIT2, CN_DIST_EXIT2, 0 },
        { PKT_EXIT2_TT, CN_DOP_EXIT2_TT, CN_DIST_EXIT2, 0 },
        { PKT_PAYLOAD_EXIT, CN_DOP_PAYLOAD_EXIT, CN_DIST_EXIT, 1 },
        { PKT_PAYLOAD_EXIT_TT, CN_DOP_PAYLOAD_EXIT_TT, CN_DIST_EXIT, 1 },
        { PKT_PAYLOAD_EXIT2, CN_DOP_PAYLOAD_EXIT2, CN_DIST_EXIT2, 0 },
        { PKT_PAYLOAD_EXIT2_TT, CN_DOP_PAYLOAD_EXIT2_TT, CN_DIST_EXIT2, 0 },
    };
    for (size_t i = 0; i < sizeof exits / sizeof exits[0]; i++) {
        CHECK(parse_frame_hex(exits[i].hex) == 0);
        CHECK(msg.op == exits[i].op && (int)msg.kind == exits[i].kind);
        CHECK(is_F(&msg.from) && is_T(&msg.to));
        if (exits[i].shutdown)
            CHECK(term_is_hex(&msg.reason, REASON_HEX));
        else
            CHECK(cn_term_is_atom(&msg.reason, "kill"));
    }

    static const struct { const char *hex; int op; int kind; int by_name; } mons[] = {
        { PKT_MONITOR_P, CN_DOP_MONITOR_P, CN_DIST_MONITOR, 0 },
        { PKT_MONITOR_P_NAME, CN_DOP_MONITOR_P, CN_DIST_MONITOR, 1 },
        { PKT_DEMONITOR_P, CN_DOP_DEMONITOR_P, CN_DIST_DEMONITOR, 0 },
        { PKT_DEMONITOR_P_NAME, CN_DOP_DEMONITOR_P, CN_DIST_DEMONITOR, 1 },
    };
    for (size_t i = 0; i < sizeof mons / sizeof mons[0]; i++) {
        CHECK(parse_frame_hex(mons[i].hex) == 0);
        CHECK(msg.op == mons[i].op && (int)msg.kind == mons[i].kind);
        CHECK(is_F(&msg.from) && cn_ref_eq(&msg.ref, &R));
        CHECK(msg.to_is_name == mons[i].by_name);
        if (mons[i].by_name)
            CHECK(strcmp(msg.to_name, "echo") == 0);
        else
            CHECK(is_T(&msg.to));
    }

    static const struct { const char *hex; int op; int by_name; } mexits[] = {
        { PKT_MONITOR_P_EXIT, CN_DOP_MONITOR_P_EXIT, 0 },
        { PKT_MONITOR_P_EXIT_NAME, CN_DOP_MONITOR_P_EXIT, 1 },
        { PKT_PAYLOAD_MONITOR_P_EXIT, CN_DOP_PAYLOAD_MONITOR_P_EXIT, 0 },
        { PKT_PAYLOAD_MONITOR_P_EXIT_NAME, CN_DOP_PAYLOAD_MONITOR_P_EXIT, 1 },
    };
    for (size_t i = 0; i < sizeof mexits / sizeof mexits[0]; i++) {
        CHECK(parse_frame_hex(mexits[i].hex) == 0);
        CHECK(msg.op == mexits[i].op && msg.kind == CN_DIST_MONITOR_EXIT);
        /* the monitored process (from) is T or the name echo; F watched */
        CHECK(is_F(&msg.to) && cn_ref_eq(&msg.ref, &R));
        CHECK(msg.from_is_name == mexits[i].by_name && !msg.to_is_name);
        if (mexits[i].by_name)
            CHECK(strcmp(msg.from_name, "echo") == 0);
        else
            CHECK(is_T(&msg.from));
    }
    CHECK(parse_frame_hex(PKT_MONITOR_P_EXIT) == 0 && cn_term_is_atom(&msg.reason, "noproc"));
    CHECK(parse_frame_hex(PKT_PAYLOAD_MONITOR_P_EXIT) == 0 &&
          term_is_hex(&msg.reason, REASON_HEX));
    CHECK(parse_frame_hex(PKT_PAYLOAD_MONITOR_P_EXIT_NAME) == 0 &&
          cn_term_is_atom(&msg.reason, "noconnection"));

    CHECK(parse_frame_hex(PKT_GROUP_LEADER) == 0);
    CHECK(msg.op == CN_DOP_GROUP_LEADER && msg.kind == CN_DIST_GROUP_LEADER);
    CHECK(parse_frame_hex(PKT_NODE_LINK) == 0);
    CHECK(msg.op == CN_DOP_NODE_LINK && msg.kind == CN_DIST_NODE_LINK);
}

/* ---- hand-built packets ------------------------------------------------- */

/* 'p' 131 control [131 second] from patterns. */
static char *build_pkt(size_t *len, const char *ctl_hex, const char *second_hex)
{
    char *p = malloc(4096);
    size_t n = 0;
    p[n++] = 'p';
    p[n++] = (char)131;
    n += unhex(ctl_hex, p + n);
    if (second_hex) {
        p[n++] = (char)131;
        n += unhex(second_hex, p + n);
    }
    char *exact = malloc(n);
    memcpy(exact, p, n);
    free(p);
    *len = n;
    return exact;
}

/* Old encodings a peer may still use: PID_EXT, REFERENCE_EXT, NEW_REFERENCE,
 * SMALL_ATOM (Latin-1) node and name, INTEGER_EXT and small-big ids. */
#define OLD_PID_A "67" "73" "06" "6F6C64406878" "0000000A" "00000000" "03"   /* <old@hx.10.0> */
#define OLD_PID_B "67" "64" "0006" "6F6C64406878" "0000000B" "00000001" "03"
#define OLD_REF "65" "73" "06" "6F6C64406878" "00000063" "02"
#define NEW_REF "72" "0002" "73" "06" "6F6C64406878" "01" "00000001" "00000002"

static void test_hand_built(void)
{
    size_t len;
    char *p;

    /* LINK with old pids */
    p = build_pkt(&len, "68" "03" "6101" OLD_PID_A OLD_PID_B, NULL);
    CHECK(cn_dist_parse(p, len, &msg, &why) == 0);
    CHECK(msg.kind == CN_DIST_LINK && strcmp(msg.from.node, "old@hx") == 0);
    CHECK(msg.from.num == 10 && msg.from.creation == 3 && msg.to.num == 11 && msg.to.serial == 1);
    free(p);

    /* UNLINK_ID with an INTEGER_EXT id and a SMALL_BIG id */
    p = build_pkt(&len, "68" "04" "6123" "62" "00010000" OLD_PID_A OLD_PID_B, NULL);
    CHECK(cn_dist_parse(p, len, &msg, &why) == 0 && msg.id == 65536);
    free(p);
    p = build_pkt(&len, "68" "04" "6124" "6E" "08" "00" "FFFFFFFFFFFFFFFF" OLD_PID_A OLD_PID_B,
                  NULL);
    CHECK(cn_dist_parse(p, len, &msg, &why) == 0 && msg.kind == CN_DIST_UNLINK_ACK);
    CHECK(msg.id == UINT64_MAX);
    free(p);

    /* MONITOR_P by a Latin-1 name with an old REFERENCE_EXT ref */
    p = build_pkt(&len, "68" "04" "6113" OLD_PID_A "73" "04" "6E616D65" OLD_REF, NULL);
    CHECK(cn_dist_parse(p, len, &msg, &why) == 0 && msg.kind == CN_DIST_MONITOR);
    CHECK(msg.to_is_name && strcmp(msg.to_name, "name") == 0);
    CHECK(msg.ref.len == 1 && msg.ref.n[0] == 99 && msg.ref.creation == 2);
    free(p);

    /* DEMONITOR_P with NEW_REFERENCE */
    p = build_pkt(&len, "68" "04" "6114" OLD_PID_A OLD_PID_B NEW_REF, NULL);
    CHECK(cn_dist_parse(p, len, &msg, &why) == 0 && msg.kind == CN_DIST_DEMONITOR);
    CHECK(!msg.to_is_name && msg.to.num == 11 && msg.ref.len == 2 && msg.ref.n[1] == 2);
    free(p);

    /* REG_SEND to a UTF-8 name, message an empty list */
    p = build_pkt(&len, "68" "04" "6106" OLD_PID_A "6A" "77" "03" "CEBB78", "6A");
    CHECK(cn_dist_parse(p, len, &msg, &why) == 0 && msg.kind == CN_DIST_REG_SEND);
    CHECK(strcmp(msg.to_name, "\xce\xbbx") == 0 && msg.msg.len == 1);
    free(p);

    /* SEND whose message is a string */
    p = build_pkt(&len, "68" "03" "6102" "6A" OLD_PID_B, "6B00026869");
    CHECK(cn_dist_parse(p, len, &msg, &why) == 0 && msg.kind == CN_DIST_SEND);
    char text[32];
    cn_term_format(&msg.msg, text, sizeof text);
    CHECK(strcmp(text, "\"hi\"") == 0);
    free(p);

    /* a control tuple in LARGE_TUPLE form */
    p = build_pkt(&len, "69" "00000003" "6101" OLD_PID_A OLD_PID_B, NULL);
    CHECK(cn_dist_parse(p, len, &msg, &why) == 0 && msg.kind == CN_DIST_LINK);
    free(p);
}

/* ---- malformed packets ---------------------------------------------------- */

static void reject(const char *name, char *p, size_t len)
{
    why = NULL;
    int r = cn_dist_parse(p, len, &msg, &why);
    if (r == 0)
        fprintf(stderr, "accepted malformed packet: %s\n", name);
    CHECK(r < 0 && why != NULL && why[0] != '\0');
    free(p);
}

static void test_malformed(void)
{
    size_t len;
    char *p;

    /* not a pass-through packet */
    p = malloc(1);
    reject("empty", p, 0);
    p = build_pkt(&len, "68" "03" "6101" OLD_PID_A OLD_PID_B, NULL);
    p[0] = 'q';
    reject("tag q", p, len);
    p = build_pkt(&len, "68" "03" "6101" OLD_PID_A OLD_PID_B, NULL);
    memmove(p, p + 1, len - 1);
    reject("no tag", p, len - 1);

    /* bare packets: a tag and nothing, a version and nothing, no tuple */
    CHECK(parse_pkt_hex("70") < 0 && why != NULL);
    CHECK(parse_pkt_hex("7083") < 0 && why != NULL);
    CHECK(parse_pkt_hex("70836A") < 0 && why != NULL);
    CHECK(parse_pkt_hex("836803610170") < 0 && why != NULL);

    /* trailing bytes */
    reject("trailing after link", build_pkt(&len, "68" "03" "6101" OLD_PID_A OLD_PID_B, "6A"),
           len);
    {
        char *q = build_pkt(&len, "68" "03" "6101" OLD_PID_A OLD_PID_B, NULL);
        char *r = malloc(len + 1);
        memcpy(r, q, len);
        r[len] = 0;
        free(q);
        reject("trailing byte", r, len + 1);
    }
    reject("two messages", build_pkt(&len, "68" "03" "6102" "6A" OLD_PID_B, "6A836A"), len);

    /* the second term missing or without its version byte */
    reject("send without message", build_pkt(&len, "68" "03" "6102" "6A" OLD_PID_B, NULL), len);
    reject("reg_send without message",
           build_pkt(&len, "68" "04" "6106" OLD_PID_A "6A" "73" "01" "78", NULL), len);
    reject("payload exit without reason",
           build_pkt(&len, "68" "03" "6118" OLD_PID_A OLD_PID_B, NULL), len);
    reject("payload monitor exit without reason",
           build_pkt(&len, "68" "04" "611C" OLD_PID_A OLD_PID_B OLD_REF, NULL), len);
    {
        char *q = build_pkt(&len, "68" "03" "6102" "6A" OLD_PID_B, "6A");
        q[len - 2] = 'x';                   /* the version byte */
        reject("message without version", q, len);
    }
    {
        char *q = build_pkt(&len, "68" "03" "6102" "6A" OLD_PID_B, "6802");
        reject("truncated message", q, len);
    }

    /* malformed control terms */
    reject("truncated control", build_pkt(&len, "68" "03" "6101" OLD_PID_A, NULL), len);
    reject("control not a tuple", build_pkt(&len, "6C00000001" "6101" "6A", NULL), len);
    reject("empty tuple", build_pkt(&len, "6800", NULL), len);
    {
        char *q = build_pkt(&len, "68" "03" "6101" OLD_PID_A OLD_PID_B, NULL);
        q[1] = (char)130;
        reject("control without version", q, len);
    }

    /* wrong arity */
    reject("link arity 2", build_pkt(&len, "68" "02" "6101" OLD_PID_A, NULL), len);
    reject("link arity 4", build_pkt(&len, "68" "04" "6101" OLD_PID_A OLD_PID_B "6A", NULL), len);
    reject("send arity 4", build_pkt(&len, "68" "04" "6102" "6A" OLD_PID_B "6A", "6A"), len);
    reject("exit arity 3", build_pkt(&len, "68" "03" "6103" OLD_PID_A OLD_PID_B, NULL), len);
    reject("node_link arity 2", build_pkt(&len, "68" "02" "6105" "6A", NULL), len);

    /* bad operations */
    reject("op 99", build_pkt(&len, "68" "03" "6163" OLD_PID_A OLD_PID_B, NULL), len);
    reject("op 0", build_pkt(&len, "68" "03" "6100" OLD_PID_A OLD_PID_B, NULL), len);
    reject("op -1", build_pkt(&len, "68" "03" "62FFFFFFFF" OLD_PID_A OLD_PID_B, NULL), len);
    reject("op 257", build_pkt(&len, "68" "03" "6200000101" OLD_PID_A OLD_PID_B, NULL), len);
    reject("op atom", build_pkt(&len, "68" "03" "730131" OLD_PID_A OLD_PID_B, NULL), len);
    reject("op big", build_pkt(&len, "68" "03" "6E09000000000000000000" "01" OLD_PID_A OLD_PID_B,
                               NULL), len);
    reject("op spawn_request (29)",
           build_pkt(&len, "68" "03" "611D" OLD_PID_A OLD_PID_B, NULL), len);

    /* wrong types in the right shape */
    reject("link from atom", build_pkt(&len, "68" "03" "6101" "730178" OLD_PID_B, NULL), len);
    reject("unlink_id id 0", build_pkt(&len, "68" "04" "6123" "6100" OLD_PID_A OLD_PID_B, NULL),
           len);
    reject("unlink_id id -1",
           build_pkt(&len, "68" "04" "6123" "62FFFFFFFF" OLD_PID_A OLD_PID_B, NULL), len);
    reject("unlink_id id atom",
           build_pkt(&len, "68" "04" "6123" "730178" OLD_PID_A OLD_PID_B, NULL), len);
    reject("monitor to a tuple",
           build_pkt(&len, "68" "04" "6113" OLD_PID_A "6800" OLD_REF, NULL), len);
    reject("monitor ref an int",
           build_pkt(&len, "68" "04" "6113" OLD_PID_A OLD_PID_B "6101", NULL), len);
    reject("monitor_exit from an int",
           build_pkt(&len, "68" "05" "6115" "6101" OLD_PID_B OLD_REF "6A", NULL), len);
    reject("reg_send name a pid",
           build_pkt(&len, "68" "04" "6106" OLD_PID_A "6A" OLD_PID_B, "6A"), len);
    reject("send to a name", build_pkt(&len, "68" "03" "6102" "6A" "730178", "6A"), len);
}

/* ---- encode -> parse ------------------------------------------------------- */

static cn_buf out;

/* Frames what is in out (one frame) and parses it into msg. */
static int reparse(void)
{
    const char *body;
    size_t body_len, used, need;
    if (cn_buf_failed(&out) ||
        cn_frame_next(out.data, out.len, 1 << 20, &body, &body_len, &used, &need) !=
            CN_FRAME_PACKET ||
        used != out.len)
        return -1;
    return cn_dist_parse(body, body_len, &msg, &why);
}

static void test_roundtrip(void)
{
    static const uint64_t flag_sets[] = {
        0, CN_DFLAG_EXIT_PAYLOAD, CN_DFLAG_UNLINK_ID,
        CN_DFLAG_EXIT_PAYLOAD | CN_DFLAG_UNLINK_ID, CN_DFLAGS_OURS,
    };
    char mbuf[64], rbuf[64];
    cn_term m = { mbuf, unhex(MSG_HEX, mbuf) };
    cn_term reason = { rbuf, unhex(REASON_HEX, rbuf) };
    cn_buf_init(&out);

    cn_buf_reset(&out);
    cn_dist_put_send(&out, &T, &m);
    CHECK(reparse() == 0 && msg.op == CN_DOP_SEND && is_T(&msg.to) && cn_term_eq(&msg.msg, &m));

    cn_buf_reset(&out);
    cn_dist_put_reg_send(&out, &F, "echo", &m);
    CHECK(reparse() == 0 && msg.op == CN_DOP_REG_SEND && is_F(&msg.from));
    CHECK(msg.to_is_name && strcmp(msg.to_name, "echo") == 0 && cn_term_eq(&msg.msg, &m));

    cn_buf_reset(&out);
    cn_dist_put_link(&out, &F, &T);
    CHECK(reparse() == 0 && msg.op == CN_DOP_LINK && is_F(&msg.from) && is_T(&msg.to));

    cn_buf_reset(&out);
    cn_dist_put_unlink_ack(&out, 1234567890123ull, &T, &F);
    CHECK(reparse() == 0 && msg.op == CN_DOP_UNLINK_ID_ACK && msg.kind == CN_DIST_UNLINK_ACK);
    CHECK(msg.id == 1234567890123ull && is_T(&msg.from) && is_F(&msg.to));

    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        uint64_t fl = flag_sets[i];
        int payload = (fl & CN_DFLAG_EXIT_PAYLOAD) != 0;

        cn_buf_reset(&out);
        cn_dist_put_unlink(&out, fl, 42, &F, &T);
        CHECK(reparse() == 0 && msg.kind == CN_DIST_UNLINK && is_F(&msg.from) && is_T(&msg.to));
        if (fl & CN_DFLAG_UNLINK_ID)
            CHECK(msg.op == CN_DOP_UNLINK_ID && msg.id == 42);
        else
            CHECK(msg.op == CN_DOP_UNLINK && msg.id == 0);

        for (int exit2 = 0; exit2 <= 1; exit2++) {
            cn_buf_reset(&out);
            cn_dist_put_exit(&out, fl, exit2, &F, &T, &reason);
            CHECK(reparse() == 0);
            CHECK(msg.kind == (exit2 ? CN_DIST_EXIT2 : CN_DIST_EXIT));
            CHECK(msg.op == (exit2 ? (payload ? CN_DOP_PAYLOAD_EXIT2 : CN_DOP_EXIT2)
                                   : (payload ? CN_DOP_PAYLOAD_EXIT : CN_DOP_EXIT)));
            CHECK(is_F(&msg.from) && is_T(&msg.to) && cn_term_eq(&msg.reason, &reason));
        }

        for (int by_name = 0; by_name <= 1; by_name++) {
            cn_buf_reset(&out);
            cn_dist_put_monitor_exit(&out, fl, &T, by_name ? "echo" : NULL, &F, &R, &reason);
            CHECK(reparse() == 0 && msg.kind == CN_DIST_MONITOR_EXIT);
            CHECK(msg.op == (payload ? CN_DOP_PAYLOAD_MONITOR_P_EXIT : CN_DOP_MONITOR_P_EXIT));
            CHECK(msg.from_is_name == by_name && is_F(&msg.to) && cn_ref_eq(&msg.ref, &R));
            if (by_name)
                CHECK(strcmp(msg.from_name, "echo") == 0);
            else
                CHECK(is_T(&msg.from));
            CHECK(cn_term_eq(&msg.reason, &reason));
        }
    }

    for (int demon = 0; demon <= 1; demon++) {
        for (int by_name = 0; by_name <= 1; by_name++) {
            cn_buf_reset(&out);
            cn_dist_put_monitor(&out, demon, &F, &T, by_name ? "echo" : NULL, &R);
            CHECK(reparse() == 0);
            CHECK(msg.kind == (demon ? CN_DIST_DEMONITOR : CN_DIST_MONITOR));
            CHECK(msg.op == (demon ? CN_DOP_DEMONITOR_P : CN_DOP_MONITOR_P));
            CHECK(is_F(&msg.from) && cn_ref_eq(&msg.ref, &R) && msg.to_is_name == by_name);
            if (by_name)
                CHECK(strcmp(msg.to_name, "echo") == 0);
            else
                CHECK(is_T(&msg.to));
        }
    }

    /* several frames appended to one buffer come back one by one */
    cn_buf_reset(&out);
    cn_dist_put_link(&out, &F, &T);
    cn_dist_put_tick(&out);
    cn_dist_put_send(&out, &T, &m);
    const char *body;
    size_t body_len, used, need, off = 0;
    CHECK(cn_frame_next(out.data, out.len, 1 << 20, &body, &body_len, &used, &need) ==
          CN_FRAME_PACKET);
    CHECK(cn_dist_parse(body, body_len, &msg, &why) == 0 && msg.kind == CN_DIST_LINK);
    off += used;
    CHECK(cn_frame_next(out.data + off, out.len - off, 1 << 20, &body, &body_len, &used, &need) ==
          CN_FRAME_TICK);
    off += used;
    CHECK(cn_frame_next(out.data + off, out.len - off, 1 << 20, &body, &body_len, &used, &need) ==
          CN_FRAME_PACKET);
    CHECK(cn_dist_parse(body, body_len, &msg, &why) == 0 && msg.kind == CN_DIST_SEND);
    CHECK(off + used == out.len);

    /* an encoder given a bad ref or empty term fails the buffer */
    cn_ref bad = R;
    bad.len = 0;
    cn_buf_reset(&out);
    cn_dist_put_monitor(&out, 0, &F, &T, NULL, &bad);
    CHECK(cn_buf_failed(&out));
    cn_term empty = { "", 0 };
    cn_buf_reset(&out);
    cn_dist_put_send(&out, &T, &empty);
    CHECK(cn_buf_failed(&out));

    cn_buf_free(&out);
}

int main(void)
{
    F = (cn_pid){ cn_atom_intern("peer@host", 9), 70, 1, 5 };
    T = (cn_pid){ cn_atom_intern("cn@host", 7), 2, 0, 9 };
    R = (cn_ref){ cn_atom_intern("peer@host", 9), 5, 3, { 11, 22, 33 } };
    test_frames();
    test_erl_packets();
    test_hand_built();
    test_malformed();
    test_roundtrip();
    cn_atom_cleanup();
    return CHECK_DONE("dist_test");
}
