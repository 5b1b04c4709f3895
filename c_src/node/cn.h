/* cn.h - the C node runtime: C processes on an Erlang cluster.
 *
 * A cn_node is one Erlang distribution node on one libuv loop: it registers
 * with epmd, accepts and dials connections, and hosts any number of C
 * processes.  A cn_proc has a pid, an optional registered name and a mailbox;
 * its behaviour is a set of gen_server-like callbacks (cn_proc_ops).  Links,
 * monitors, gen_server calls and casts, and Gleam Subjects work across the
 * wire in both directions with OTP's semantics.
 *
 * Errors, bad input and out of memory: one policy for the runtime and the
 * protocols, docs/errors.md.
 *
 * Threading: everything runs on the node's loop thread.  Handlers must not
 * block; use cn_call / cn_gleam_call continuations and libuv for I/O.  A
 * slow handler delays the others, but boundedly: each loop turn gives
 * handlers about 10 ms for messages handled as they are read and 10 ms per
 * run of the queued ones; the rest wait in mailboxes (which are bounded:
 * cn_mailbox_full) while the node goes on reading and answering.
 */
#ifndef CN_H
#define CN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "term.h"

/* The project's version: every binary's --version prints it. */
#define CN_VERSION "0.10.0"

typedef struct cn_node cn_node;
typedef struct cn_proc cn_proc;

/* ---- node --------------------------------------------------------------- */

/* TLS options of one side of a connection, as erl's -ssl_dist_opt names
 * them (server_certfile, client_verify, ...).  A node is the server of the
 * connections it accepts and the client of those it dials. */
typedef struct cn_tls_side {
    const char *certfile;       /* PEM certificate (chain) we present */
    const char *keyfile;        /* PEM private key; NULL: in certfile */
    const char *cacertfile;     /* PEM CAs that peers' certificates must
                                 * chain to (NULL: the system's) */
    int         verify_peer;    /* verify: 1 verify_peer, 0 verify_none */
    int         fail_if_no_peer_cert; /* server: refuse a client without one */
} cn_tls_side;
typedef struct cn_tls_config {
    cn_tls_side server, client;
} cn_tls_config;

typedef struct cn_node_config {
    const char *name;        /* "alive" or "alive@host" */
    int         longnames;   /* 0: -sname style, 1: -name style */
    const char *cookie;      /* NULL: $ERLANG_COOKIE, then ~/.erlang.cookie */
    const char *listen_host; /* NULL: all interfaces, as erl */
    int         port;        /* 0: any free port */
    unsigned    ticktime_s;  /* net_ticktime; 0: 60, as erl */
    int         verbose;     /* 0 warnings, 1 info, 2 debug (stderr) */
    size_t      max_packet;  /* 0: 128 MiB; larger packets drop the link */
    /* Memory for packets being received, shared by all connections.  Each
     * connection reads through a buffer of up to 128 KiB; a larger packet
     * grows its connection's buffer as its bytes arrive (doubling, up to its
     * length; never to the length announced before the bytes come), and
     * what all these buffers hold beyond their 128 KiB may not exceed this.
     * A peer whose packet cannot fit is disconnected, with a log line.
     * 0: twice max_packet (256 MiB). */
    size_t      input_budget;
    /* How long a stop waits for output queued to peers to be written
     * (cn_node_stop); 0: 5000 ms. */
    unsigned    stop_drain_ms;
    /* Output queued to one peer and not yet written beyond which a
     * message to it is refused with CN_ERR_BUSY (cn_send); 0: 64 MiB. */
    size_t      max_output;
    int         no_signals;  /* 1: do not stop on SIGINT/SIGTERM */
    int         no_rx_batching; /* 1: wake for every segment of a stream
                                 * (see rxbatch.c; costs an Erlang sender) */
    /* Random bytes: fill buf, return 0, or -1 when there are none.  NULL:
     * getrandom(2).  Without them the node does not start, and a handshake
     * that cannot draw its challenge is refused (logged); tests set a
     * failing source here. */
    int       (*random)(void *buf, size_t len);
    /* How distribution is carried, as erl's -proto_dist: inet6 (inet6_tcp,
     * inet6_tls) listens, dials and registers with epmd over IPv6; tls
     * (inet_tls, inet6_tls) wraps every connection in TLS, as OTP's
     * inet_tls_dist does, with the options in tls_opts (tls.c). */
    int         inet6;
    int         tls;
    cn_tls_config tls_opts;
} cn_node_config;

/* Creates a node on loop, listens, and registers with epmd (starting epmd if
 * none runs).  On failure returns NULL and writes the reason to err. */
cn_node *cn_node_start(uv_loop_t *loop, const cn_node_config *cfg, char *err, size_t errlen);
/* Graceful stop: every process exits with reason 'shutdown' (links and
 * monitors fire), the name is unregistered, idle connections close, and
 * pending output is flushed (a connection still being set up may come up
 * and deliver it) for at most stop_drain_ms: ticks go on meanwhile, and at
 * the deadline every connection left is closed, what it held dropped (a
 * warning says how much).  A peer that reads nothing (partitioned, or
 * stopped) thus delays a stop by stop_drain_ms at most.  uv_run returns
 * once everything is closed. */
void cn_node_stop(cn_node *n);
/* SIGINT/SIGTERM (unless no_signals): cb, if set, is asked first.  It
 * returns 1 if it will stop the node itself (cn_node_stop, now or after
 * work of its own: a Raft leader hands over first), 0 to stop it now.  It
 * runs outside any process turn (start a timer for one).  A second signal
 * stops the node at once. */
typedef int (*cn_signal_cb)(cn_node *n, int signum, void *ud);
void cn_node_on_signal(cn_node *n, cn_signal_cb cb, void *ud);
/* Frees the node after uv_run has returned. */
void cn_node_free(cn_node *n);

const char *cn_node_name(const cn_node *n);
int         cn_node_port(const cn_node *n);
uv_loop_t  *cn_node_loop(const cn_node *n);
/* Sets a callback for nodeup/nodedown (for logs and tests); nodedown comes
 * also for a dial that failed, as monitor_node reports it.  It runs inside
 * connection handling: it may send messages and start timers, but must not
 * stop the node or disconnect peers; do that on a later turn (a timer, or a
 * message to one of your processes).  peer is valid during the call: copy
 * it to keep it (names of peers that are gone are freed, atom.c). */
typedef void (*cn_nodestatus_cb)(cn_node *n, const char *peer, int up, void *ud);
void cn_node_on_status(cn_node *n, cn_nodestatus_cb cb, void *ud);
/* Output queued to peer beyond the high-water mark: a sender should pause
 * (nothing is dropped if it does not). */
int  cn_node_busy(cn_node *n, const char *peer);
/* Connected peers; fills up to max names (valid until the loop's next
 * turn: copy them to keep them), returns the count. */
size_t cn_node_peers(cn_node *n, const char **names, size_t max);
/* Why the last attempt to connect to peer failed, for people: "node is
 * not registered with epmd on HOST", "cannot reach epmd on HOST",
 * "connection refused on HOST:PORT", "handshake refused by the peer (wrong
 * cookie?)", ...; NULL if no attempt has failed since it was last up (the
 * node remembers the last 32 peers that failed).  Valid until the loop's
 * next turn. */
const char *cn_node_dial_error(cn_node *n, const char *peer);
/* Drops the connection to peer (as erlang:disconnect_node/1). */
void cn_node_disconnect(cn_node *n, const char *peer);

typedef struct cn_node_stats {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t rx_streams;     /* inbound streams read in batches (rxbatch.c) */
    size_t   procs, conns;
    size_t   in_buffered;    /* bytes the connections' input buffers hold */
    size_t   out_buffered;   /* bytes queued to peers and not yet written */
    size_t   node_names;     /* names in the process's table of node names */
    uint64_t msgs_shed;      /* dropped for a full mailbox (CN_MAILBOX_SHED) */
    uint64_t mailbox_kills;  /* processes killed for a full mailbox */
    size_t   timers;         /* process timers waiting (cn_start_timer) */
} cn_node_stats;
void cn_node_get_stats(const cn_node *n, cn_node_stats *st);

/* ---- processes ---------------------------------------------------------- */

enum { CN_OK = 0, CN_UNHANDLED = 1 };
/* What sends return besides 0 and -1 (see cn_send). */
enum { CN_ERR_BUSY = -2 };

/* What happens to a message no handler takes (seed 003's policy). */
typedef enum cn_unhandled {
    CN_UNHANDLED_LOG = 0,    /* log it and drop it (gen_server/gleam default) */
    CN_UNHANDLED_DROP,       /* drop silently */
    CN_UNHANDLED_STOP,       /* stop with {unhandled_message, Msg} */
    CN_UNHANDLED_FORWARD,    /* send to the dead-letter pid */
} cn_unhandled;

/* A process's mailbox holds at most mailbox_limit bytes: the messages
 * waiting in it, and those held while it is suspended by sys:suspend, each
 * counted as its encoded size plus CN_MAILBOX_ENTRY (the runtime's
 * bookkeeping and allocation; so the limit bounds the memory they take).
 * A message that would take it past the limit meets the process's policy:
 *   CN_MAILBOX_KILL  (the default, as OTP's max_heap_size) the process
 *                    exits with {mailbox_full, Limit} before it handles
 *                    anything else (after the current handler, if it is
 *                    running), which trap_exit cannot stop; what it had
 *                    queued is dropped at once and nothing more gets in;
 *                    links and monitors fire, a warning is logged, stats
 *                    count it in mailbox_kills;
 *   CN_MAILBOX_SHED  the new message is dropped and counted in stats
 *                    msgs_shed; a warning is logged when shedding starts
 *                    and when the mailbox is below half the limit again.
 * Either way the sender is not told, as a send to a process that is gone.
 * An empty mailbox takes any message, so what one holds is bounded by the
 * limit plus one message.  Only ordinary messages are refused: exit
 * signals and the messages the runtime makes ('DOWN', {cn_drained, Node})
 * always get in (they count).
 * A message handled in place (the process idle, its mailbox empty) never
 * waits, so a process that keeps up is never limited. */
typedef enum cn_mailbox_full {
    CN_MAILBOX_KILL = 0,
    CN_MAILBOX_SHED,
} cn_mailbox_full;
#define CN_MAILBOX_DEFAULT   ((size_t)64 << 20)   /* mailbox_limit 0 */
#define CN_MAILBOX_UNLIMITED SIZE_MAX
#define CN_MAILBOX_ENTRY     64                   /* bytes counted per message */

/* The caller of a gen_server call, to reply to now or later. */
typedef struct cn_from {
    cn_pid   pid;
    uint16_t tag_len;
    char     tag[494];       /* the call's tag term, replied unchanged */
} cn_from;

/* A Gleam Subject: {subject, Owner, Tag}, or a named subject
 * {named_subject, Name} (gleam_erlang 1.x), whose owner is whatever
 * process is registered as Name, and which node says where (NULL: this
 * node; the term carries no node).  Ordinary subjects leave name and node
 * NULL (initialise with .owner and .tag, or zero it).  name and node are
 * interned (atom.c) and kept: copy a cn_subject freely. */
typedef struct cn_subject {
    cn_pid  owner;
    cn_ref  tag;
    cn_atom name;
    cn_atom node;
} cn_subject;

/* Handlers return CN_OK, or CN_UNHANDLED to apply the unhandled policy.
 * A NULL handler leaves its messages unhandled.  Inside a handler the process
 * may send, reply, call, link, monitor, set a timeout, or cn_stop itself.
 *
 * The terms a handler is given (req, msg, reason, and a cn_call_cb's reply)
 * are borrowed: valid until the handler returns (they may point into a
 * connection's input buffer or a mailbox entry freed after the handler).
 * Copy what must outlive it (cn_term_put_term into a cn_buf of yours), and
 * *from (a cn_from is self-contained).  What cn_term_match extracts (~t, ~b,
 * ~L, ~M) points into the matched term and lives as long as it does. */
typedef struct cn_proc_ops {
    const char *kind;        /* for logs */
    int  (*init)(cn_proc *p, void *arg);            /* non-zero: spawn fails */
    int  (*handle_call)(cn_proc *p, const cn_term *req, const cn_from *from);
    int  (*handle_cast)(cn_proc *p, const cn_term *req);
    int  (*handle_info)(cn_proc *p, const cn_term *msg);
    /* {Tag, Msg} sent to one of this process's Subjects, or {Name, Msg}
     * to its named subject (s->name set; see cn_subject_named). */
    int  (*handle_subject)(cn_proc *p, const cn_subject *s, const cn_term *msg);
    void (*handle_timeout)(cn_proc *p);             /* idle timeout fired */
    void (*terminate)(cn_proc *p, const cn_term *reason);
    /* Appends one term: what sys:get_state and sys:get_status show (else
     * {cnode_process, Kind}). */
    void (*format_state)(cn_proc *p, cn_buf *out);
    cn_unhandled unhandled;
    /* 1: handle_call keeps no copy of From (it replies before returning, or
     * never), so the caller's node name need not be kept for the process's
     * life on its account (atom.c).  0: From may be kept, for a deferred
     * reply. */
    int replies_at_once;
    /* The mailbox's limit in bytes (0: CN_MAILBOX_DEFAULT, 64 MiB;
     * CN_MAILBOX_UNLIMITED: none) and what a message meets beyond it. */
    size_t          mailbox_limit;
    cn_mailbox_full mailbox_full;
} cn_proc_ops;

/* Spawns a process; name may be NULL.  Returns NULL if init fails or the
 * name is taken. */
cn_proc *cn_spawn(cn_node *n, const cn_proc_ops *ops, void *arg, const char *name);

cn_node      *cn_proc_node(const cn_proc *p);
const cn_pid *cn_self(const cn_proc *p);
void         *cn_proc_state(const cn_proc *p);
void          cn_proc_set_state(cn_proc *p, void *state);
/* Finds a local process; NULL if none. */
cn_proc *cn_whereis(cn_node *n, const char *name);
cn_proc *cn_proc_by_pid(cn_node *n, const cn_pid *pid);
/* Registered name, or NULL. */
const char *cn_proc_name(const cn_proc *p);

/* Stops p with a reason (as returning {stop, Reason, State}).  Takes effect
 * when the current handler returns; terminate then runs once. */
void cn_stop(cn_proc *p, const cn_term *reason);
void cn_stop_atom(cn_proc *p, const char *reason);
/* Exit signal to any process, as erlang:exit(Pid, Reason). */
void cn_exit(cn_proc *from, const cn_pid *to, const cn_term *reason);

/* Sets the idle timeout for the rest of this handler's turn: if no message
 * arrives within ms, handle_timeout runs.  As gen_server's Timeout return
 * value, it lapses when the next message arrives. */
void cn_timeout(cn_proc *p, unsigned ms);
void cn_proc_set_dead_letter(cn_proc *p, const cn_pid *to);
/* Sets p's mailbox limit and policy (as cn_proc_ops', which init may
 * override per process); applies to messages that arrive from now on. */
void cn_mailbox_limit(cn_proc *p, size_t bytes, cn_mailbox_full policy);
void cn_trap_exit(cn_proc *p, int on);

/* ---- messages ----------------------------------------------------------- */

/* Terms the runtime builds for a caller, and how long they live:
 *   cn_fmt       in the process's own buffer: valid until the next cn_fmt on
 *                the same process, or its exit (so for the whole handler
 *                that made it, terminate included).  The next cn_fmt may
 *                take it as an argument (~t).
 *   cn_buf_term  a view of the caller's cn_buf: valid until that changes.
 * Every function that sends (cn_send, cn_sendf, cn_send_named,
 * cn_sendf_named, cn_reply, cn_replyf, cn_subject_send(f), cn_call,
 * cn_cast, cn_gleam_call) copies what it sends before it returns and
 * builds in a buffer no caller can hold a term in, so any term above, or a
 * handler's borrowed ones, may be given to any of them. */

/* Sends msg.  Returns 0 once it is queued (a local process's mailbox
 * policy may still drop it: see cn_mailbox_full), -1 if msg cannot go
 * (no connection to its node can be made), or CN_ERR_BUSY if the
 * connection to its node holds more than cn_node_config.max_output bytes
 * not yet written (64 MiB by default): msg is not sent, and from gets
 * {cn_drained, Node} once the output has drained (as cn_send_busy).
 * Everything that sends a message (below, replies, casts, calls, Subjects)
 * returns what cn_send does; links, monitors and exit signals are always
 * queued. */
int cn_send(cn_proc *from, const cn_pid *to, const cn_term *msg);
/* Flow control for fast senders, as erts' busy_dist_port, well below the
 * hard limit: returns 1 if the connection to node holds more unsent output
 * than its high-water mark (4 MiB), and then p gets the info message
 * {cn_drained, Node} once it has drained below the low-water mark (1 MiB).
 * Returns 0 (and subscribes nothing) otherwise.  Advisory: a sender that
 * goes on is refused only at max_output. */
int cn_send_busy(cn_proc *p, const char *node);
/* node NULL or our own name: a local registered process. */
int cn_send_named(cn_proc *from, const char *name, const char *node, const cn_term *msg);
/* Build-and-send with a term pattern (term.h). */
int cn_sendf(cn_proc *from, const cn_pid *to, const char *pattern, ...);
int cn_sendf_named(cn_proc *from, const char *name, const char *node, const char *pattern, ...);

/* Builds a term in the process's own buffer (see above for how long it
 * lives); {NULL, 0} for a bad pattern. */
cn_term cn_fmt(cn_proc *p, const char *pattern, ...);

/* ---- gen_server calls and casts ----------------------------------------- */

/* Replies to a call, now or later (keep a copy of *from to defer). */
int cn_reply(cn_proc *p, const cn_from *from, const cn_term *reply);
int cn_replyf(cn_proc *p, const cn_from *from, const char *pattern, ...);

typedef enum cn_call_status {
    CN_CALL_OK = 0,          /* reply holds the reply */
    CN_CALL_DOWN,            /* callee died or does not exist; reply = reason */
    CN_CALL_TIMEOUT,
} cn_call_status;
typedef void (*cn_call_cb)(cn_proc *p, cn_call_status st, const cn_term *reply, void *ud);

/* A process to call: a pid, or a name on a node (node NULL: local). */
typedef struct cn_dest {
    const cn_pid *pid;
    const char   *name;
    const char   *node;
} cn_dest;

/* gen_server:call without blocking: the request goes out at once, cb runs
 * later on this process with the reply, the callee's exit reason (noproc,
 * noconnection, ...) or a timeout.  timeout_ms 0 means infinity.  On
 * CN_ERR_BUSY nothing was sent and cb will not run. */
int cn_call(cn_proc *p, cn_dest dest, const cn_term *req, unsigned timeout_ms,
            cn_call_cb cb, void *ud);
int cn_cast(cn_proc *p, cn_dest dest, const cn_term *req);

/* ---- links and monitors ------------------------------------------------- */

int  cn_link(cn_proc *p, const cn_pid *other);
int  cn_unlink(cn_proc *p, const cn_pid *other);
/* Monitors a process; a 'DOWN' message {'DOWN', Ref, process, Obj, Reason}
 * arrives in handle_info.  Returns 0 and the monitor ref. */
int  cn_monitor(cn_proc *p, cn_dest dest, cn_ref *ref);
void cn_demonitor(cn_proc *p, const cn_ref *ref);

cn_ref cn_make_ref(cn_node *n);

/* ---- Gleam Subjects ----------------------------------------------------- */

/* Mints {subject, Self, Ref}: messages {Ref, Msg} reach handle_subject. */
void cn_subject_new(cn_proc *p, cn_subject *s);
/* p's named subject {named_subject, Name}, Name its registered name: from
 * now on messages {Name, Msg} (sent to the name or to the pid) reach
 * handle_subject with s->name set, as a Gleam actor that selects on its
 * named subject gets them; before, they are info messages as ever.  -1 if
 * p has no registered name. */
int  cn_subject_named(cn_proc *p, cn_subject *s);
/* Stops accepting s (for a named subject: {Name, Msg} are info again). */
void cn_subject_drop(cn_proc *p, const cn_subject *s);
/* The named subject Name on node (NULL: the sender's own), to send to or
 * call.  -1 if name is not an atom's text (empty, or over 255 characters)
 * or the atom table is full. */
int  cn_named_subject(cn_subject *s, const char *name, const char *node);
/* Reads {subject, Pid, Ref} or {named_subject, Name} (node NULL); -1 for
 * anything else. */
int  cn_subject_from_term(const cn_term *t, cn_subject *s);
/* Writes {subject, Owner, Tag} or {named_subject, Name} (node is not on
 * the wire). */
void cn_subject_put(cn_buf *b, const cn_subject *s);
/* process.send(Subject, Msg): sends {Tag, Msg} to the owner, or {Name, Msg}
 * to Name on s's node ({Name, Node} ! {Name, Msg}; a name nobody holds
 * drops it, as a send to a process that is gone). */
int  cn_subject_send(cn_proc *p, const cn_subject *s, const cn_term *msg);
int  cn_subject_sendf(cn_proc *p, const cn_subject *s, const char *pattern, ...);

/* actor.call: build(b, reply_subject, ud) writes the request (which must
 * embed the reply subject); cb gets the reply, or DOWN/TIMEOUT.  The
 * callee is monitored: the owner's pid, or for a named subject the name on
 * its node, so a name nobody holds ends the call at once with DOWN noproc.
 * The reply subject is always an ordinary one of p's. */
typedef void (*cn_gleam_build)(cn_buf *b, const cn_subject *reply_to, void *ud);
int cn_gleam_call(cn_proc *p, const cn_subject *s, cn_gleam_build build,
                  unsigned timeout_ms, cn_call_cb cb, void *ud);

/* ---- timers ------------------------------------------------------------- */

/* Process timers, as erlang:start_timer/3 and cancel_timer/1.  A timer
 * belongs to p and ends as the message {timeout, Ref, Msg} to p, which
 * handle_info gets as a turn of p like any message (behind what the
 * mailbox holds, held while p is suspended; the mailbox limit never drops
 * it).  Timers due at the same time fire in the order they were started.
 * p's timers go when p exits.  Any code on the loop may start one for a
 * local process (a cn_nodestatus_cb, say, to act on the process's next
 * turn); it never fires inside the call that started it.
 *
 * cn_start_timer: Msg after ms (0: on the loop's next turn); cn_start_timerf
 * builds Msg from a pattern as cn_sendf does.  Both copy it, set *ref (ref
 * may be NULL) and return 0, or -1 when p is exiting or memory is short.
 * cn_cancel_timer: the milliseconds that were left (0 or more) if the
 * timer was still waiting, now cancelled; -1 if it is unknown, has fired
 * or was cancelled.  A timer that fired may still have its message in the
 * mailbox: match Ref in handle_info to drop a stale one, as in Erlang.
 * cn_proc_now: the loop's clock in ms (uv_now), which timers run on; one
 * clock for a process and the core it drives. */
int      cn_start_timer(cn_proc *p, uint64_t ms, const cn_term *msg, cn_ref *ref);
int      cn_start_timerf(cn_proc *p, uint64_t ms, cn_ref *ref, const char *pattern, ...);
long     cn_cancel_timer(cn_proc *p, const cn_ref *ref);
uint64_t cn_proc_now(const cn_proc *p);

/* A deadline: one process timer kept armed for the next deadline of a
 * core (raft's, gossip's), so that the core's tick is a turn of p.  Its
 * message is {timeout, Ref, Tag}.  Set tag before first use; zero the rest.
 * cn_deadline_set arms d for time at on cn_proc_now's clock (a past time:
 * the next turn; UINT64_MAX: disarmed), and leaves it be if at has not
 * moved.  cn_deadline_fired, for handle_info: 1 if msg is d firing (d is
 * then disarmed: set it again), 0 if it is a stale one of d's (a timer
 * that fired before d moved: drop it), -1 if msg is not d's. */
typedef struct cn_deadline {
    const char *tag;                /* an atom */
    uint64_t    due;                /* 0: not armed */
    cn_ref      ref;
} cn_deadline;
void cn_deadline_set(cn_proc *p, cn_deadline *d, uint64_t at);
int  cn_deadline_fired(cn_deadline *d, const cn_term *msg);

/* Runs fn(p, arg) now as a turn of p, for the completions of p's own I/O
 * (a libuv callback of a file or a pipe it reads): in fn p may do what a
 * handler may (send, call, start timers, cn_stop), and an exit it asks for
 * happens when fn returns.  Called from p's own handler, fn just runs
 * inside that turn.  Returns -1 without running fn if p has exited. */
int cn_proc_run(cn_proc *p, void (*fn)(cn_proc *p, void *arg), void *arg);

/* ---- logging ------------------------------------------------------------ */

/* A log line, if level is within the node's verbosity: on stderr as
 * "HH:MM:SS.mmm [node] level: message", or to the node's log function.
 * Warnings and errors are rate-limited: the same message again within
 * 10 s is counted, not printed; its next line says how many were not. */
void cn_log(cn_node *n, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum { CN_LOG_ERROR = -1, CN_LOG_WARN = 0, CN_LOG_INFO = 1, CN_LOG_DEBUG = 2 };
/* Sends the node's log lines (whole, without a newline) to fn instead of
 * stderr; NULL: back to stderr. */
typedef void (*cn_log_fn)(void *ud, int level, const char *line);
void cn_node_log_to(cn_node *n, cn_log_fn fn, void *ud);

#endif
