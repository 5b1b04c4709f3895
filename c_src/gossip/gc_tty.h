/* gc_tty.h - the chat's terminal: a prompt with line editing at the bottom,
 * an optional status line just above it, and everything else printed above
 * both, so that an incoming line never splices into a half-typed one.
 *
 * The terminal is in raw mode while the editor runs (libuv's uv_tty_t on
 * the loop); it is restored by gc_tty_close.  Keys: printable text (UTF-8)
 * is inserted; Left/Right, Home/End, Ctrl-A/E/B/F move; Backspace, Delete,
 * Ctrl-D (on a non-empty line), Ctrl-K/U/W delete; Up/Down and Ctrl-P/N
 * walk the lines typed before; Ctrl-L redraws; Enter hands the line over
 * (and clears it: the chat shows it once, as it shows every line); Ctrl-D
 * on an empty line is end of input; Ctrl-C is an interrupt.
 */
#ifndef GC_TTY_H
#define GC_TTY_H

#include <stdio.h>
#include <uv.h>

typedef struct gc_tty gc_tty;

typedef struct gc_tty_ops {
    void (*line)(void *ud, const char *s, size_t len);   /* Enter */
    void (*eof)(void *ud);                               /* Ctrl-D, line empty */
    void (*interrupt)(void *ud);                         /* Ctrl-C */
    void  *ud;
} gc_tty_ops;

/* A tty handle on fd (a terminal); out is where the screen is written (the
 * same terminal).  NULL with the reason in err. */
gc_tty *gc_tty_new(uv_loop_t *loop, int fd, FILE *out, const char *prompt,
                   const gc_tty_ops *ops, char *err, size_t errlen);
/* Raw mode, the prompt drawn, keys read. */
void gc_tty_start(gc_tty *t);
/* Prints one line (no newline in text) above the status and prompt. */
void gc_tty_print(gc_tty *t, const char *text, size_t len);
/* Sets the status line (NULL or "": none). */
void gc_tty_status(gc_tty *t, const char *text);
/* Stops reading, erases the prompt, restores the terminal's mode and closes
 * the handle (free after the loop has run the close). */
void gc_tty_close(gc_tty *t);
void gc_tty_free(gc_tty *t);

#endif
