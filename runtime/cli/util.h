/* Small helpers shared by the subcommands. */
#ifndef HN_CLI_UTIL_H
#define HN_CLI_UTIL_H

#include <stddef.h>

/* Strict integer parse: the whole string must be a number. */
int hn_parse_long(const char *s, long *out);
/* The whole file as a NUL-terminated string (NULL if unreadable). */
char *hn_read_text_file(const char *path);
/* The current git commit of the working directory, or "unknown". */
void hn_git_commit(char *out, size_t size);
/* The same for the repository holding `dir` (NULL: the current directory). */
void hn_git_commit_at(const char *dir, char *out, size_t size);
/* The one line on stderr by which every command that reads or writes a results
 * database says which: "hnet CMD: results database PATH" (absolute). */
void hn_note_db(const char *cmd, const char *path);
/* `given` (a --db argument) or, when NULL, the project's results.db by the one rule of
 * results/location.h (buf holds it); "results/results.db" if that cannot be resolved. */
const char *hn_cli_db(const char *given, char *buf, size_t cap);
/* The median of v[0, n) (n >= 1); sorts v. */
double hn_median(double *v, int n);

#endif
