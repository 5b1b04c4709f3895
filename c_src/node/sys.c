/* sys.c - OTP system messages for managed processes, so that sys (and the
 * tools built on it, such as observer) can look at a C process.
 *
 * sys:get_state/1,2   State: what the process's format_state callback
 *                     builds, else {cnode_process, Kind}
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

/* The State a sys call shows; b gets one term. */
static void build_state(cn_proc *p, cn_buf *b)
{
    if (p->ops->format_state)
        p->ops->format_state(p, b);
    else
        cn_term_build(b, "{cnode_process, ~a}", p->ops->kind ? p->ops->kind : "process");
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
