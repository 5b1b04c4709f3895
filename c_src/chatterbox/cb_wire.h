/* cb_wire.h - chatterbox messages as Erlang terms.
 *
 * Every node registers a process named `chatterbox`; nodes send each other
 * these terms with {chatterbox, Node} ! Term.  From is the sender's id from
 * peers.json, Ts a send time in microseconds since the Unix epoch, sequence
 * numbers count each sender's messages from 1, values are fixed-point
 * integers 1..10^9 (cb_rng.h).
 *
 *   fast protocol
 *     {cb_data, From, Ts, First, Values}   Values: binary, N x 32-bit
 *                                          big-endian; messages First..
 *                                          First+N-1, all sent at Ts
 *     {cb_end, From, Last}                 From's last message is Last
 *     {cb_ack, From, UpTo, EndSeen}        From has the addressee's messages
 *                                          1..UpTo; EndSeen: true | false
 *     {cb_done, From}                      From printed; all its messages
 *                                          are acked by everyone
 *   seed protocol
 *     {cb_msg, From, Seq, Ts, Value}       message Seq of From
 *     {cb_msg_ack, From, Seq}              From holds the addressee's Seq
 *     {cb_flush, From, Seq}                everyone acked From's last
 *                                          message Seq: commit it
 *     {cb_flush_ack, From, Seq}
 *   both
 *     {cb_hello, From}                     a probe that opens a connection
 */
#ifndef CB_WIRE_H
#define CB_WIRE_H

#include "../node/term.h"
#include "cb_core.h"

enum { CB_WIRE_BAD = -1, CB_WIRE_MSG = 0, CB_WIRE_HELLO = 1 };

/* Appends the term for m, sent by the node with id from_id, to b. */
void cb_wire_encode(cn_buf *b, const cb_msg *m, int from_id);
void cb_wire_encode_hello(cn_buf *b, int from_id);
/* Decodes a term.  CB_WIRE_MSG: *m is filled (m->from left -1, m->vals
 * points into t) and *from_id is the sender's id; CB_WIRE_HELLO: only
 * *from_id; CB_WIRE_BAD: not a chatterbox term. */
int cb_wire_decode(const cn_term *t, cb_msg *m, int *from_id);

#endif
