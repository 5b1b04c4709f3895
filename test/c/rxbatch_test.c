/* rxbatch_test.c - unit tests of rxbatch.c's pure rules: how large a batch
 * is, which reads start batching, and what keeps it going. */
#include "../../c_src/node/internal.h"
#include "check.h"

static void test_batch_bytes(void)
{
    CHECK(cn__rxb_batch_bytes(100) == 128000);          /* 1280 messages */
    CHECK(cn__rxb_batch_bytes(10) == 64 << 10);         /* at least 64 KiB */
    CHECK(cn__rxb_batch_bytes(0) == 64 << 10);
    CHECK(cn__rxb_batch_bytes(4000) == 4 << 20);        /* at most 4 MiB */
    CHECK(cn__rxb_batch_bytes((size_t)1 << 40) == 4 << 20);
}

static void test_starts(void)
{
    /* 8 KiB of 100-byte messages in 700-byte segments: an Erlang stream */
    CHECK(cn__rxb_starts(8192, 82, 70000, 100));
    /* a smaller read */
    CHECK(!cn__rxb_starts(8191, 82, 70000, 100));
    /* no message completed (part of a large one) */
    CHECK(!cn__rxb_starts(65536, 0, 70000, 100));
    /* large messages leave as large segments anyway */
    CHECK(!cn__rxb_starts(65536, 16, 70000, 100));
    CHECK(cn__rxb_starts(65536, 17, 70000, 100));
    /* a peer that merges its writes (a C node) */
    CHECK(!cn__rxb_starts(65536, 600, 65536 * 4, 4));
    CHECK(!cn__rxb_starts(65536, 600, 4096 * 10, 10));
    CHECK(cn__rxb_starts(65536, 600, 4095 * 10, 10));
    /* no segment counted since the last look */
    CHECK(!cn__rxb_starts(65536, 600, 0, 0));
}

static void test_keeps(void)
{
    size_t batch = 128000;
    CHECK(cn__rxb_keeps(16000, batch, 0));              /* an eighth */
    CHECK(!cn__rxb_keeps(15999, batch, 0));             /* slowed down */
    CHECK(!cn__rxb_keeps(0, batch, 1));                 /* paused */
    CHECK(!cn__rxb_keeps(-5, batch, 0));                /* read more than came */
    CHECK(cn__rxb_keeps(100000, batch, 2));
    CHECK(!cn__rxb_keeps(100000, batch, 3));            /* held 3 ticks: read */
}

int main(void)
{
    test_batch_bytes();
    test_starts();
    test_keeps();
    return CHECK_DONE("rxbatch");
}
