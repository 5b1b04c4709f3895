/* cb_rng.c - the seeded value function (see cb_rng.h). */
#include "cb_rng.h"

#define GOLDEN 0x9E3779B97F4A7C15ull

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t cb_rng_key(uint64_t seed, int id)
{
    return mix64(seed + GOLDEN * (uint64_t)(int64_t)id);
}

uint32_t cb_rng_value(uint64_t key, uint64_t seq)
{
    unsigned __int128 x = (unsigned __int128)mix64(key + GOLDEN * seq) * CB_SCALE;
    return (uint32_t)(x >> 64) + 1;
}
