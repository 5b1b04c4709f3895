/* cb_rng.h - chatterbox's seeded message values.
 *
 * Every message carries a number in (0, 1], held in fixed point as an
 * integer k in 1..CB_SCALE (the number is k / CB_SCALE).  Message seq of
 * the node with id I, under seed S, carries
 *
 *   key   = mix64(S + GOLDEN * I)
 *   k     = ((mix64(key + GOLDEN * seq) * CB_SCALE) >> 64) + 1
 *
 * all arithmetic modulo 2^64, mix64 being SplitMix64's finaliser and
 * GOLDEN 0x9E3779B97F4A7C15.  A value is a pure function of (seed, id, seq),
 * so a node needs no generator state and a test can recompute any value;
 * the Erlang reference (chatterbox_ref_lib:value/3) is the same function.
 */
#ifndef CB_RNG_H
#define CB_RNG_H

#include <stdint.h>

#define CB_SCALE 1000000000u   /* values are k / 10^9, k in 1..10^9 */

uint64_t cb_rng_key(uint64_t seed, int id);
uint32_t cb_rng_value(uint64_t key, uint64_t seq);

#endif
