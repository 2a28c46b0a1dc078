/* The batch script of hnet suite --slurm: array specifications, bash quoting, and a
 * script whose comments no run name or sbatch option can break out of. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "suite/slurm.h"

static void spec_is(const int *idx, int n, int max_running, const char *want) {
    char out[64];
    hn_error err;
    assert_int_equal(hn_slurm_array_spec(idx, n, max_running, out, sizeof out, &err), HN_OK);
    assert_string_equal(out, want);
}

static void test_array_spec(void **state) {
    spec_is((int[]){0, 1, 2, 3}, 4, 0, "0-3");
    spec_is((int[]){0, 2, 3}, 3, 0, "0,2-3");
    spec_is((int[]){5}, 1, 0, "5");
    spec_is((int[]){1, 3, 5, 6, 7, 10}, 6, 2, "1,3,5-7,10%2");
    int many[40];
    for (int i = 0; i < 40; i++) many[i] = 2 * i; /* 40 single indices: longer than 64 */
    char out[64];
    hn_error err;
    assert_int_equal(hn_slurm_array_spec(many, 40, 0, out, sizeof out, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "too long"));
}

static char *quoted(const char *text, int always) {
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    hn_slurm_quote(f, text, always);
    fclose(f);
    return s;
}

static void quote_is(const char *text, int always, const char *want) {
    char *got = quoted(text, always);
    assert_string_equal(got, want);
    free(got);
}

static void test_quote(void **state) {
    quote_is("--time=1:00:00", 0, "--time=1:00:00");
    quote_is("--time=1:00:00", 1, "'--time=1:00:00'");
    quote_is("it's a test", 0, "'it'\\''s a test'");
    quote_is("", 0, "''");
    quote_is("$HOME `x`", 0, "'$HOME `x`'");
}

static void test_script(void **state) {
    const char *names[] = {"plain", "evil\nrm -rf /tmp/x", "third"};
    const char *hashes[] = {"0123456789abcdef", "1111111111111111", "2222222222222222"};
    int todo[] = {1, 2};
    char *args[] = {"--comment", "a\nb", "--time=5"};
    char *env[] = {"PATH=/bin", "HNET_DATA_DIR=/data/it's here", "HNET_BAD-NAME=x", "HNETX=1", NULL};
    hn_slurm_job job = {.name = "s", .hnet = "/opt/hnet/bin/hnet", .suite_file = "/p/suite\n.lua",
                        .workdir = "/p", .log_dir = "/p/results/slurm", .db = "/p/r.db", .force = 1,
                        .n_runs = 3, .run_names = names, .run_hashes = hashes, .todo = todo, .n_todo = 2,
                        .sbatch_args = args, .n_sbatch_args = 3, .env = env,
                        .written_at = "2026-01-01T00:00:00Z"};
    char *text = hn_slurm_script(&job);
    assert_non_null(text);
    /* every line up to `set -eu` is a comment: sbatch reads its options there, and bash
     * runs nothing of it */
    char *body = strstr(text, "\nset -eu\n");
    assert_non_null(body);
    for (char *line = text; line <= body; line = strchr(line, '\n') + 1) assert_int_equal(line[0], '#');
    assert_non_null(strstr(text, "\n#SBATCH --array=1-2\n"));
    assert_non_null(strstr(text, "\n#SBATCH --output=/p/results/slurm/s-%A_%a.out\n"));
    assert_non_null(strstr(text, "\n#SBATCH --job-name=hnet-s\n"));
    assert_non_null(strstr(text, "\nhashes=(0123456789abcdef 1111111111111111 2222222222222222)\n"));
    assert_non_null(strstr(text, "\nexport HNET_DATA_DIR='/data/it'\\''s here'\n"));
    assert_null(strstr(text, "HNET_BAD-NAME"));
    assert_null(strstr(text, "HNETX"));
    assert_null(strstr(text, "PATH=/bin"));
    assert_non_null(strstr(text, "\nexec '/opt/hnet/bin/hnet' suite '/p/suite\n.lua' --config-hash "
                                 "\"${hashes[$SLURM_ARRAY_TASK_ID]}\" --db '/p/r.db' --force\n"));
    free(text);
}

static void test_output_folder_with_spaces(void **state) {
    const char *names[] = {"a"};
    const char *hashes[] = {"0123456789abcdef"};
    int todo[] = {0};
    hn_slurm_job job = {.name = "s", .hnet = "/h", .suite_file = "/f.lua", .workdir = "/p",
                        .log_dir = "/my results/slurm", .n_runs = 1, .run_names = names,
                        .run_hashes = hashes, .todo = todo, .n_todo = 1, .written_at = "now"};
    char *text = hn_slurm_script(&job);
    assert_non_null(strstr(text, "\n#SBATCH --output=\"/my results/slurm/s-%A_%a.out\"\n"));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_spec),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_script),
        cmocka_unit_test(test_output_folder_with_spaces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
