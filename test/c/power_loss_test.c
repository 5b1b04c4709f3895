/* power_loss_test.c - the power-loss shim (lose_unsynced.c) loses exactly
 * what was not synced: a writer under LD_PRELOAD writes, syncs, writes
 * more, overwrites, truncates, and exits without syncing; the rollback
 * tool must leave the file as it was at the last sync, byte for byte.
 * The writer is perl (in every Debian), since this binary runs under ASan
 * and ASan must be first in a preloaded process. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char dir[128];

/* Runs a perl writer on DIR/f under the shim; returns the file afterwards
 * rolled back, in out (NUL-terminated). */
static void run(const char *perl, char *out, size_t outlen)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "rm -f %s/f && LD_PRELOAD=$PWD/_build/c/rel/lib/liblose_unsynced.so "
             "CNODE_LOSE_DIR=%s perl -MIO::Handle -e 'sysopen(my $f, \"%s/f\", 0102) or die; %s' "
             "&& _build/c/rel/bin/lose_unsynced %s >/dev/null",
             dir, dir, dir, perl, dir);
    CHECK(system(cmd) == 0);
    char p[256];
    snprintf(p, sizeof p, "%s/f", dir);
    FILE *f = fopen(p, "rb");
    size_t n = f ? fread(out, 1, outlen - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
}

int main(void)
{
    char got[256];
    snprintf(dir, sizeof dir, "/tmp/power_loss_test_%d", (int)getpid());
    CHECK(mkdir(dir, 0755) == 0);

    run("syswrite($f, \"AAAA\"); $f->sync; syswrite($f, \"BBBB\");", got, sizeof got);
    CHECK(strcmp(got, "AAAA") == 0);                  /* the unsynced append is lost */

    run("syswrite($f, \"AAAA\"); syswrite($f, \"BBBB\"); $f->sync;", got, sizeof got);
    CHECK(strcmp(got, "AAAABBBB") == 0);              /* synced: kept */

    run("syswrite($f, \"AAAABBBB\"); $f->sync; truncate($f, 2);", got, sizeof got);
    CHECK(strcmp(got, "AAAABBBB") == 0);              /* an unsynced cut is undone */

    run("syswrite($f, \"AAAABBBB\"); $f->sync; sysseek($f, 2, 0); syswrite($f, \"xx\"); "
        "syswrite($f, \"CCCCCC\");", got, sizeof got);
    CHECK(strcmp(got, "AAAABBBB") == 0);              /* overwrite and growth undone */

    run("syswrite($f, \"AAAA\"); $f->sync; syswrite($f, \"BB\"); $f->sync; syswrite($f, \"CC\");",
        got, sizeof got);
    CHECK(strcmp(got, "AAAABB") == 0);                /* back to the last of two syncs */

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return CHECK_DONE("power_loss");
}
