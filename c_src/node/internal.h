/* internal.h - the runtime's private structures, shared by its files.
 *
 *   node.c    node lifecycle, listener, epmd registration, loop hooks
 *   conn.c    one TCP connection: dial, handshake, framing, ticks, output
 *   route.c   the one boundary between connections and processes: what
 *             conn.c reports (packets, up, down, drained) and every frame
 *             processes and link.c send
 *   proc.c    process table, mailboxes, run queue, exit
 *   link.c    links, monitors and exit signals
 *   gen.c     the managed-process dispatch: call, cast, info, timeouts
 *   sys.c     OTP system messages: sys:get_state, get_status, suspend...
 *   timer.c   process timers: cn_start_timer, cn_cancel_timer
 *   call.c    outgoing gen_server calls and Gleam calls
 *   gleam.c   Subjects
 *   names.c   the node names a node holds (the rest are freed: atom.c)
 *   rxbatch.c reading one-way streams of small messages in batches
 *   tcpinfo.c the kernel's TCP counters for a socket (tcpinfo.h)
 *   epmd.c    epmd client: registration, and PORT_PLEASE2 on libuv
 *   addr.c    socket addresses of either family (IPv4, IPv6)
 *   tls.c     TLS distribution (inet_tls_dist) on memory BIOs
 */
#ifndef CN_INTERNAL_H
#define CN_INTERNAL_H

#include <uthash.h>

#include "cn.h"
#include "dist.h"
#include "handshake.h"

#define CN_HIGH_WATER (4u << 20)        /* output bytes before "busy" */
#define CN_LOW_WATER  (1u << 20)        /* ... and before "drained" */
#define CN_READ_CHUNK (64u << 10)       /* room for each read when up */
#define CN_HS_CHUNK   (4u << 10)        /* ... during the handshake */
#define CN_IN_BASE    (2 * CN_READ_CHUNK)  /* input buffer outside the budget */
#define CN_SETUP_TIMEOUT_MS 7000         /* net_setuptime, as erl */
#define CN_RUN_BATCH 256                 /* messages per run-queue turn */
/* Handler time a loop turn gives messages handled in place as they are
 * read, and each run of the run queue: past it, messages read wait in
 * mailboxes and the run queue yields, so a slow process cannot hold the
 * loop from other connections and processes (the clock is read every
 * CN_TURN_CHECK messages). */
#define CN_TURN_NS    (10u * 1000 * 1000)
#define CN_TURN_CHECK 16

typedef struct cn_epmd_req cn_epmd_req;
typedef struct cn_tls_ctx cn_tls_ctx;
typedef struct cn_tls cn_tls;

/* ---- connections -------------------------------------------------------- */

/* Batched reading of one-way streams (rxbatch.c). */
typedef struct cn_rxb {
    int      on;                    /* reading the stream in batches */
    int      paused;                /* reading stopped until the next tick */
    uint64_t bytes_in;              /* the kernel's counters at the last */
    uint32_t segs_in;               /* look (tcpinfo.c) */
    int      wrote;                 /* we wrote since the last read */
    int      batch;                 /* bytes: the low-water mark */
    size_t   read_bytes;            /* read since the last tick */
    unsigned quiet;                 /* ticks in a row without a read */
    int      pending;               /* bytes queued at the last tick */
} cn_rxb;

typedef enum conn_state {
    CONN_RESOLVING,      /* getaddrinfo of the peer's host */
    CONN_EPMD,           /* asking the peer's epmd for its port */
    CONN_CONNECTING,
    CONN_HANDSHAKE,
    CONN_UP,
    CONN_WAIT_PEER,      /* our attempt got nok: the peer dials us */
    CONN_CLOSING,
} conn_state;

typedef struct cn_conn {
    cn_node    *node;
    conn_state  state;
    int         initiator;
    cn_atom     peer;               /* NULL until an acceptor learns it */
    char        peer_host[256];
    char        peer_alive[256];
    struct sockaddr_storage peer_addr;  /* its host, then its port */
    uint64_t    peer_flags;
    uint32_t    peer_creation;
    cn_hs       hs;
    cn_tls     *tls;                /* TLS distribution: the session */

    uv_tcp_t    tcp;
    uv_timer_t  timer;              /* setup timeout, then rxbatch's tick */
    int         tcp_open, timer_open, handles_open;
    uv_getaddrinfo_t gai;
    int         gai_active;
    cn_epmd_req *epmd;
    uv_connect_t connect_req;

    cn_buf      in;                 /* bytes read, not yet parsed */
    size_t      in_need;            /* bytes of the packet begun in it */
    int         in_refused;         /* the input budget refused room */
    cn_buf      out;                /* frames waiting to be written */
    cn_buf      wbuf;               /* frames being written */
    int         writing;
    uv_write_t  wreq;
    int         dirty;              /* on the node's flush list */
    struct cn_conn *next_dirty;

    int         rx_seen, rx_idle_ticks, tx_seen;
    cn_pid     *drain_waiters;      /* processes told when output drains */
    size_t      ndrain, drain_cap;
    int         nodeup_sent;
    cn_rxb      rxb;

    struct cn_conn *next, *prev;    /* node's list of all connections */
    UT_hash_handle hh;              /* node->conns by peer name */
} cn_conn;

/* rxbatch.c: after each read when up (offered: the buffer's room; msgs:
 * the messages it completed), and on each write. */
void     cn__rxb_read(cn_conn *c, size_t nread, size_t offered, uint64_t msgs);
void     cn__rxb_wrote(cn_conn *c);
/* rxbatch.c's rules, pure: a batch's bytes for a stream's average message;
 * whether a read (and the peer's segments since the last look) starts
 * batching; whether what a tick brought keeps it. */
size_t   cn__rxb_batch_bytes(size_t avg_msg);
int      cn__rxb_starts(size_t nread, uint64_t msgs, uint64_t seg_bytes, uint64_t segs);
int      cn__rxb_keeps(int64_t arrived, size_t batch, unsigned quiet);
void     cn__conn_reading(cn_conn *c, int on);   /* start or stop reading */
int      cn__conn_fd(cn_conn *c);                /* the socket, or -1 */

void     cn__conn_accept(cn_node *n, uv_stream_t *server);
cn_conn *cn__conn_get(cn_node *n, cn_atom peer, int dial);
/* The connection registered for a node name, looked up without adding the
 * name to the table of node names. */
cn_conn *cn__conn_named(cn_node *n, const char *name);
/* The buffer to append frames to; marks the conn for flushing. */
cn_buf  *cn__conn_out(cn_conn *c);
void     cn__conn_flush(cn_conn *c);
void     cn__conn_close(cn_conn *c, const char *why);
/* A stop's deadline passed (after ms): closes c, dropping its output. */
void     cn__conn_drain_expired(cn_conn *c, unsigned ms);
void     cn__conn_tick(cn_conn *c);
int      cn__conn_idle(const cn_conn *c);  /* nothing left to write */
size_t   cn__conn_queued(const cn_conn *c);    /* output not yet written */
int      cn__conn_busy(const cn_conn *c);
int      cn__conn_wait_drain(cn_conn *c, const cn_pid *pid);
/* The peer's flags; before the handshake ends, what every OTP 25 node and
 * every cn node has (frames queued early are encoded with these). */
static inline uint64_t cn__conn_flags(const cn_conn *c)
{ return c->state == CONN_UP ? c->peer_flags : CN_DFLAGS_OURS; }

/* ---- processes ---------------------------------------------------------- */

typedef enum env_kind {
    ENV_MSG,             /* an ordinary message */
    ENV_EXIT,            /* exit signal from a link */
    ENV_EXIT2,           /* exit signal from exit/2 */
    ENV_KILL,            /* exit the process cannot trap: the mailbox limit */
} env_kind;

typedef struct cn_env {
    struct cn_env *next;
    env_kind kind;
    cn_pid   from;                  /* ENV_EXIT*: the sender */
    size_t   len;
    char     data[];                /* the message or the exit reason */
} cn_env;

typedef struct cn_linkrec {
    struct cn_linkrec *next;
    cn_pid pid;
} cn_linkrec;

/* A monitor, kept by the watcher (mon_out) and, for local targets, by the
 * target (mon_in). */
typedef struct cn_mon {
    struct cn_mon *next;
    cn_ref  ref;
    cn_pid  watcher;
    cn_pid  target;                 /* valid unless by_name and unresolved */
    cn_atom target_node;
    char   *name;                   /* monitored by registered name */
} cn_mon;

typedef struct cn_pending {
    UT_hash_handle hh;
    cn_ref      ref;                /* key: the call's tag / reply subject */
    cn_proc    *proc;
    cn_call_cb  cb;
    void       *ud;
    uv_timer_t *timer;
} cn_pending;

typedef struct cn_ptimer cn_ptimer;  /* timer.c */

typedef struct cn_subj_entry {
    UT_hash_handle hh;
    cn_ref ref;
} cn_subj_entry;

struct cn_proc {
    cn_node           *node;
    cn_pid             pid;
    char              *name;
    const cn_proc_ops *ops;
    void              *state;

    cn_env  *mbox_head, *mbox_tail;
    size_t   mbox_len;
    int      in_runq;
    struct cn_proc *runq_next;
    int      running;               /* inside a handler */
    int      exiting;               /* cn_stop called; exit after handler */
    int      dead;                  /* exited; memory freed when safe */
    int      no_terminate;          /* init failed: skip terminate */
    uint32_t key;                   /* pid num | serial << 15 */
    cn_buf   exit_reason;
    int      trap_exit;
    int      has_dead_letter;
    cn_pid   dead_letter;

    cn_linkrec *links;
    cn_mon  *mon_out;               /* I watch these */
    cn_mon  *mon_in;                /* these watch me */
    cn_pending   *pending;          /* outgoing calls by tag */
    cn_subj_entry *subjects;
    cn_atom  named;                 /* its named subject taken: {Name, Msg}
                                     * reach handle_subject (gleam.c) */

    uv_timer_t *idle_timer;
    cn_ptimer  *timers;             /* cn_start_timer's, not yet fired */
    long     next_timeout;          /* set by cn_timeout during a turn */
    long     last_timeout;          /* what the last turn armed, -1 none */
    int      suspended;             /* sys:suspend: messages wait in held */
    cn_env  *held_head, *held_tail;
    cn_buf   scratch;               /* the term of the last cn_fmt */
    size_t   mbox_bytes;            /* mailbox and held, as counted (cn.h) */
    size_t   mbox_limit;
    cn_mailbox_full mbox_policy;
    uint64_t shedding;              /* messages shed since shedding began */
    int      mbox_killed;           /* killed by the limit: takes nothing */

    UT_hash_handle hh_num, hh_name;
};

/* How a message is delivered: DIRECT, t stays valid through the call, so
 * an idle process may handle it in place; LIMITED, an ordinary message,
 * which the mailbox limit may refuse (signals and the runtime's own
 * messages are not). */
enum { CN__DELIVER_DIRECT = 1, CN__DELIVER_LIMITED = 2 };
void cn__proc_deliver(cn_proc *p, env_kind kind, const cn_pid *from, const cn_term *t,
                      unsigned how);
void cn__proc_exit(cn_proc *p, const cn_term *reason);
/* A message that arrived while suspended, kept in order; and putting them
 * back at the front of the mailbox on resume. */
void cn__proc_hold(cn_proc *p, const cn_term *t);
void cn__proc_release_held(cn_proc *p);
void cn__sys_handle(cn_proc *p, const cn_from *from, const cn_term *req);
void cn__proc_run_timeout(cn_proc *p);
/* Runs fn as a turn of p (timeouts, continuations). */
void cn__proc_run(cn_proc *p, void (*fn)(cn_proc *p, void *arg), void *arg);
void cn__proc_stop_all(cn_node *n, const char *reason);
int  cn__run_queue(cn_node *n);           /* 1 if work is left */
void cn__free_zombies(cn_node *n);
void cn__procs_free(cn_node *n);          /* after the loop: every process */

/* link.c */
void cn__exit_signal(cn_proc *p, env_kind kind, const cn_pid *from, const cn_term *reason);
void cn__links_on_exit(cn_proc *p, const cn_term *reason);
void cn__monitors_on_exit(cn_proc *p, const cn_term *reason);
/* A control frame's way out (route.c): the output of the connection to a
 * node and the flags its peer announced.  link.c writes its links,
 * monitors and exit signals there and never touches a connection. */
typedef struct cn_ctl_out {
    cn_buf  *buf;
    uint64_t flags;
} cn_ctl_out;

void cn__peer_down(cn_node *n, cn_atom peer);
void cn__remote_link(cn_node *n, const cn_dist_msg *m, const cn_ctl_out *back);
void cn__remote_unlink(cn_node *n, const cn_dist_msg *m, const cn_ctl_out *back);
void cn__remote_exit(cn_node *n, const cn_dist_msg *m);
void cn__remote_monitor(cn_node *n, const cn_dist_msg *m, const cn_ctl_out *back);
void cn__remote_demonitor(cn_node *n, const cn_dist_msg *m);
void cn__remote_monitor_exit(cn_node *n, const cn_dist_msg *m);
void cn__deliver_down(cn_proc *watcher, const cn_mon *mon, const cn_term *reason);

/* gen.c */
void cn__gen_dispatch(cn_proc *p, const cn_term *msg);
void cn__gen_after_turn(cn_proc *p);
int  cn__gen_info(cn_proc *p, const cn_term *msg);

/* call.c */
int  cn__call_match(cn_proc *p, const cn_term *msg);   /* 1: consumed */
void cn__calls_cancel(cn_proc *p);
/* gleam.c */
int  cn__subject_match(cn_proc *p, const cn_term *msg); /* 1: consumed */
/* A message to s: its head {Tag or {Name, (the message follows), where it
 * goes (the owner, or the name on its node), and sending it there. */
void cn__subject_put_head(cn_buf *b, const cn_subject *s);
cn_dest cn__subject_dest(const cn_subject *s);
int  cn__subject_deliver(cn_proc *p, const cn_subject *s, const cn_term *msg);
void cn__subjects_free(cn_proc *p);

/* route.c: what conn.c reports, and nothing else reaches processes from a
 * connection.  A packet; a connection up (nodeup); the connection to peer
 * gone (links and monitors towards it see noconnection; nodedown too if
 * it had been up or was our dial, as monitor_node reports it); output
 * drained below the low-water mark (each of who gets {cn_drained, Peer}). */
void cn__route_packet(cn_conn *c, const cn_dist_msg *m);
void cn__route_up(cn_node *n, cn_atom peer);
void cn__route_down(cn_node *n, cn_atom peer, int nodedown);
void cn__route_drained(cn_node *n, cn_atom peer, const cn_pid *who, size_t k);
/* The way out for a control frame to node, dialing it if dial: 0, or -1
 * if there is no connection (and none can be made). */
int  cn__route_ctl(cn_node *n, cn_atom node, int dial, cn_ctl_out *out);

/* ---- the node ----------------------------------------------------------- */

/* A warning printed lately: the same one again within CN_LOG_REPEAT_MS is
 * counted, not printed (log.c). */
#define CN_LOG_SEEN 32
#define CN_LOG_REPEAT_MS 10000
typedef struct cn_log_seen {
    uint64_t hash;                  /* of the message; 0: free */
    uint64_t at;                    /* when printed (monotonic ms) */
    unsigned dropped;               /* repeats not printed since */
} cn_log_seen;

struct cn_node {
    uv_loop_t *loop;
    char       name[CN_ATOM_BUF];
    cn_atom    self;                /* interned name */
    char       alive[256], host[256];
    char       cookie[CN_ATOM_BUF];
    uint32_t   creation;
    int        family;              /* AF_INET, or AF_INET6 (inet6_*) */
    cn_tls_ctx *tls;                /* TLS distribution (inet*_tls), or NULL */
    cn_hs_random random;            /* creation, challenges, a fresh cookie */
    uint64_t   names_swept;         /* loop time of the last sweep (names.c) */
    int        verbose;
    size_t     max_packet;
    size_t     input_budget;        /* input buffers beyond CN_IN_BASE each */
    size_t     max_output;          /* per connection, for messages (cn.h) */
    unsigned   tick_ms;             /* ticktime / 4 */

    uv_tcp_t   listener;
    int        port;
    int        epmd_fd;
    uv_timer_t tick_timer;
    uv_timer_t stop_timer;          /* reports what delays a shutdown */
    uv_timer_t drain_timer;         /* a stop's deadline for output */
    unsigned   stop_drain_ms;
    uv_idle_t  idle;
    uv_check_t check;
    uv_prepare_t prepare;
    uv_signal_t sigint, sigterm;
    int        signals;
    int        signalled;           /* a signal came: the next stops at once */
    struct { char peer[CN_ATOM_BUF]; char why[600]; } dial_errors[32];
    cn_log_seen log_seen[CN_LOG_SEEN];  /* warnings lately printed (log.c) */
    cn_log_fn  log_fn;              /* cn_node_log_to, else stderr */
    void      *log_ud;
    unsigned   dial_error_next;     /* cn_node_dial_error's ring */
    cn_signal_cb signal_cb;
    void      *signal_ud;
    int        handles_open;

    cn_conn   *conns;               /* hash by peer name (named conns) */
    cn_conn   *conn_list;           /* every conn, named or not */
    cn_conn   *dirty;               /* conns with output to flush */

    cn_proc   *procs;               /* hash by pid num */
    cn_proc   *names;               /* hash by registered name */
    size_t     nprocs;
    uint32_t   next_pid;
    uint64_t   next_ref;
    uint64_t   next_unlink_id;
    cn_proc   *runq_head, *runq_tail;
    int        dispatch_depth;
    uint64_t   direct_since;        /* first in-place dispatch this turn */
    unsigned   direct_count;        /* ... and how many since */
    int        direct_off;          /* the turn's in-place time is spent */
    cn_proc   *zombies;             /* exited, freed after the turn */
    uv_timer_t timers;              /* process timers (timer.c): armed for */
    int        timers_open;         /* the earliest in theap */
    cn_ptimer **theap;
    size_t     theap_len, theap_cap;
    uint64_t   timer_seq;
    cn_buf     timerbuf;            /* the message of the timer firing */

    int        stopping;
    int        rx_batching;
    cn_nodestatus_cb status_cb;
    void      *status_ud;
    cn_node_stats stats;
    /* Buffers with one owner each.  The terms in sendbuf and sigbuf are
     * copied (to a connection or a mailbox) before the function that built
     * them returns, and never reach a handler. */
    cn_buf     scratch;             /* handshake output */
    cn_buf     sendbuf;             /* cn_sendf, cn_sendf_named, cn_reply(f) */
    cn_buf     sigbuf;              /* reasons of signals we make (link.c) */
    cn_buf     fmt_spare;           /* cn_fmt builds here, then swaps */
    cn_buf     tls_in;              /* ciphertext of the read at hand (conn.c) */
};

void cn__node_schedule(cn_node *n);       /* make sure the run queue runs */
/* Whether a message read off a socket may still be handled in place in
 * this loop turn (CN_TURN_NS). */
int  cn__node_direct_ok(cn_node *n);
void cn__node_dirty(cn_node *n, cn_conn *c);
void cn__node_conn_gone(cn_node *n, cn_conn *c);
void cn__node_status(cn_node *n, cn_atom peer, int up);
/* Remembers why a dial to peer failed (why NULL: it came up, forget). */
void cn__node_dial_failed(cn_node *n, const char *peer, const char *why);

/* route.c: builds pattern in b (reset first); an empty term on failure. */
cn_term cn__vfmt(cn_buf *b, const char *pattern, va_list ap);
/* The *f senders' build: pattern in the node's send buffer (copied by the
 * send before it returns); -1 after a log line naming fn if it is bad. */
int cn__send_fmt(cn_node *n, const char *fn, cn_term *out, const char *pattern, va_list ap);

/* A libuv timer for the runtime's own use (node.c): cn__timer_free stops
 * it, and frees it once libuv has closed it (callbacks never run after). */
uv_timer_t *cn__timer_new(cn_node *n, void *data);
void        cn__timer_free(uv_timer_t *t);

/* timer.c */
void cn__timers_init(cn_node *n);
void cn__timers_close(cn_node *n, void (*closed)(uv_handle_t *));
void cn__timers_free(cn_node *n);
void cn__timers_on_exit(cn_proc *p);

/* names.c: between loop turns, frees the node names nothing holds when
 * atom.c wants it. */
void cn__names_sweep(cn_node *n);

/* tls.c: a node's TLS contexts, made at start from its options (NULL
 * with the reason in err), and freed with the node. */
cn_tls_ctx *cn__tls_ctx_new(const cn_tls_config *cfg, char *err, size_t errlen);
void        cn__tls_ctx_free(cn_tls_ctx *t);
/* A connection's session: server for accepted connections, else client of
 * peer_host (its server name, and the name its certificate must carry
 * under client_verify verify_peer).  NULL without memory. */
cn_tls     *cn__tls_new(cn_tls_ctx *ctx, int server, const char *peer_host);
void        cn__tls_free(cn_tls *t);
int         cn__tls_up(const cn_tls *t);           /* the handshake is done */
/* Ciphertext read from the socket; -1 without memory. */
int         cn__tls_feed(cn_tls *t, const char *data, size_t len);
/* Steps the TLS handshake on what was fed: 1 done, 0 needs more input,
 * -1 failed (*why says why, valid while t lives).  Then write pending
 * output (cn__tls_seal of an empty buffer). */
int         cn__tls_handshake(cn_tls *t, const char **why);
/* Plaintext into buf: bytes read, 0 when no more is ready, -1 if the
 * session failed, -2 if the peer closed it (*why says which). */
ssize_t     cn__tls_read(cn_tls *t, char *buf, size_t room, const char **why);
/* Replaces b's plaintext by its ciphertext, after whatever output the
 * session has pending (b empty: just that output).  -1 on failure. */
int         cn__tls_seal(cn_tls *t, cn_buf *b);

/* addr.c */
int  cn__addr_port(const struct sockaddr *a);
void cn__addr_set_port(struct sockaddr *a, int port);
/* "1.2.3.4:P" or "[::1]:P" in buf, for logs; returns buf. */
const char *cn__addr_text(const struct sockaddr *a, char *buf, size_t size);
/* The family's loopback address (127.0.0.1 or ::1) at port; returns its
 * length. */
socklen_t cn__addr_loopback(int family, int port, struct sockaddr_storage *a);
/* As erl's resolver ends: this machine's own host name (or localhost)
 * stands for the family's loopback address when nothing else resolves it.
 * 0 with *a set, -1 if host is another machine. */
int  cn__addr_own_loopback(const char *host, int family, struct sockaddr_storage *a);

/* epmd.c */
typedef void (*cn_epmd_cb)(void *ud, int port, const char *err);
cn_epmd_req *cn__epmd_port_please(uv_loop_t *loop, const struct sockaddr *epmd,
                                  const char *alive, cn_epmd_cb cb, void *ud);
void cn__epmd_cancel(cn_epmd_req *r);
int  cn__epmd_port(void);                 /* $ERL_EPMD_PORT or 4369 */
/* Whether this host's epmd answers over family. */
int  cn__epmd_answers(int family);
/* Registers alive at port with this host's epmd over family, blocking for
 * at most 5 s (at start, before the loop runs).  Returns the socket, whose
 * closing unregisters the name, or -1 with the reason in err. */
int  cn__epmd_register(int family, const char *alive, int port, char *err, size_t errlen);
/* Pure parts, for tests and fuzzing. */
void cn__epmd_put_port_please(cn_buf *out, const char *alive);
int  cn__epmd_parse_port2(const unsigned char *b, size_t len, int *port, const char **err);
void cn__epmd_put_alive2(cn_buf *out, const char *alive, int port);
/* 1 registered, 0 more bytes needed, -1 refused or malformed (*err says). */
int  cn__epmd_parse_alive2(const unsigned char *b, size_t len, const char **err);

#endif
