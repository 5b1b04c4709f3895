/* sys.c - OTP system messages for managed processes, so that sys (and the
 * tools built on it, such as observer) can look at a C process.
 *
 * sys:get_state/1,2   State: what the process's format_state callback
 *                     builds, else {cnode_process, Kind}; {ok, State} to
 *                     an OTP 26 or later caller (see wants_ok)
 * sys:get_status/1,2  {status, Pid, {module, cnode}, [PDict, running |
 *                     suspended, Parent, Debug, Misc]}, shaped as
 *                     gen_server's
 * sys:suspend/1,2     ok; until resumed, messages wait and the idle timeout
 *                     is paused (system messages and exit signals still act,
 *                     and so does the timeout of a cn_call already made)
 * sys:resume/1,2      ok; the waiting messages run first, in order
 * anything else       {error, {unknown_system_msg, Req}}, which sys turns
 *                     into an error in the caller (replace_state cannot run
 *                     an Erlang fun on C state)
 * gen.c recognises {system, From, Req} before anything else.
 */
#include "internal.h"
#include "term_ext.h"

/* The State a sys call shows; b gets one term. */
static void build_state(cn_proc *p, cn_buf *b)
{
    if (p->ops->format_state)
        p->ops->format_state(p, b);
    else
        cn_term_build(b, "{cnode_process, ~a}", p->ops->kind ? p->ops->kind : "process");
}

/* Since OTP 26.1, sys:get_state expects {ok, State} (and fails on
 * anything else); before, it took the reply as the State itself.  The
 * handshake flags of OTP 25 and 27 are the same, but the reference in the
 * call's tag (Ref or [alias | Ref], as gen:call makes it) tells them apart:
 * OTP 25's has 3 words, OTP 26 and later make process aliases with 5.  An
 * OTP 26.0 caller (5 words, old sys) would get {ok, State}. */
static int wants_ok(const cn_from *from)
{
    const char *d = from->tag;
    size_t end = from->tag_len, pos = 0;
    if (end > 5 && (unsigned char)d[0] == CN_EXT_LIST &&
        cn_get32((const unsigned char *)d + 1) == 1) {
        pos = 5;
        if (cn_term_check(d, end, &pos) < 0)      /* the atom alias */
            return 0;
    }
    cn_term ref = { d + pos, end - pos };
    cn_ref r;
    return cn__term_match_weak(&ref, "~r", &r) && r.len > 3;
}

static void reply_with_state(cn_proc *p, const cn_from *from, int status)
{
    const char *run = p->suspended ? "suspended" : "running";
    cn_buf st;
    cn_buf_init(&st);
    build_state(p, &st);
    cn_term state = cn_buf_term(&st, 0);
    if (cn_buf_failed(&st))
        cn_replyf(p, from, "{error, format_state_failed}");
    else if (!status && wants_ok(from))
        cn_replyf(p, from, "{ok, ~t}", &state);
    else if (!status)
        cn_reply(p, from, &state);
    else
        cn_replyf(p, from,
                  "{status, ~p, {module, cnode}, [[], ~a, undefined, [],"
                  " [{header, ~s}, {data, [{~s, ~a}, {~s, undefined}, {~s, []}]},"
                  "  {data, [{~s, ~t}]}]]}",
                  &p->pid, run, "Status for C process", "Status", run, "Parent",
                  "Logged events", "State", &state);
    cn_buf_free(&st);
}

void cn__sys_handle(cn_proc *p, const cn_from *from, const cn_term *req)
{
    /* a system message leaves the idle timeout as it was */
    p->next_timeout = p->last_timeout;
    if (cn_term_match(req, "get_state")) {
        reply_with_state(p, from, 0);
    } else if (cn_term_match(req, "get_status")) {
        reply_with_state(p, from, 1);
    } else if (cn_term_match(req, "suspend")) {
        p->suspended = 1;
        cn_replyf(p, from, "ok");
    } else if (cn_term_match(req, "resume")) {
        p->suspended = 0;
        cn__proc_release_held(p);
        cn_replyf(p, from, "ok");
    } else {
        cn_replyf(p, from, "{error, {unknown_system_msg, ~t}}", req);
    }
}
