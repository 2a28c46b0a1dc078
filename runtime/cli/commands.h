/* The hnet subcommands. Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns the process exit status. */
#ifndef HN_COMMANDS_H
#define HN_COMMANDS_H

int hn_cmd_run(int argc, char **argv);
int hn_cmd_show(int argc, char **argv);
int hn_cmd_diff(int argc, char **argv);
int hn_cmd_plugins(int argc, char **argv);
/* hnet plugins --check FILE.so [--config JSON] [--d N] [--device cuda]; device NULL: cpu */
int hn_cmd_plugins_check(const char *path, const char *config_json, int d_model,
                         const char *device);
int hn_cmd_fetch(int argc, char **argv);
int hn_cmd_bench(int argc, char **argv);
int hn_cmd_bench_op(int argc, char **argv); /* hnet bench --op NAME */
int hn_cmd_sample(int argc, char **argv);
int hn_cmd_chunks(int argc, char **argv);
int hn_cmd_eval(int argc, char **argv);
int hn_cmd_upload(int argc, char **argv);
int hn_cmd_suite(int argc, char **argv);
int hn_cmd_compare(int argc, char **argv);
int hn_cmd_plot(int argc, char **argv);
int hn_cmd_report(int argc, char **argv);

#endif
