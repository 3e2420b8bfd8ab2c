// Wide-character ncurses: the defines must precede the header so that
// cchar_t, wadd_wch and get_wch are declared.
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <locale.h>
#include <wchar.h>
#include <ncursesw/ncurses.h>

// Macros Swift cannot import, as functions.
static inline int sc_color_pair(int n) { return COLOR_PAIR(n); }
static inline int sc_lines(void) { return LINES; }
static inline int sc_cols(void) { return COLS; }
static inline int sc_colors(void) { return COLORS; }
static inline int sc_color_pairs(void) { return COLOR_PAIRS; }
static inline int sc_a_bold(void) { return (int)A_BOLD; }
static inline int sc_a_reverse(void) { return (int)A_REVERSE; }
static inline int sc_a_underline(void) { return (int)A_UNDERLINE; }
static inline int sc_a_dim(void) { return (int)A_DIM; }
