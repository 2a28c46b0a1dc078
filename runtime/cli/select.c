/* Run selection shared by compare, plot and report. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/select.h"
#include "cli/util.h"
#include "lua/experiment.h"
#include "results/location.h"
#include "suite/flops_match.h"
#include "suite/suite.h"

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int hn_select_arg(hn_selection *s, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    long id;
    if ((!strcmp(a, "--db") || !strcmp(a, "--suite") || !strcmp(a, "--where")) && *i + 1 >= argc) {
        fprintf(stderr, "hnet %s: %s needs a value\n", cmd, a);
        return -1;
    }
    if (!strcmp(a, "--db")) s->db = argv[++*i];
    else if (!strcmp(a, "--suite")) s->suite_name = argv[++*i];
    else if (!strcmp(a, "--where")) s->where = argv[++*i];
    else if (!strcmp(a, "--unsafe-lua")) s->unsafe_lua = 1;
    else if (a[0] != '-' && ends_with(a, ".lua")) s->suite_file = a;
    else if (a[0] != '-' && hn_parse_long(a, &id) == 0 && id > 0) {
        if (s->n_ids == (int)(sizeof s->ids / sizeof s->ids[0])) {
            fprintf(stderr, "hnet %s: too many run ids\n", cmd);
            return -1;
        }
        s->ids[s->n_ids++] = id;
    } else return 0;
    return 1;
}

/* The runs of a suite file: the run that counts for each resolved config. */
static int suite_ids(hn_selection *s, int64_t **ids, int *n, const char **db, hn_error *err) {
    hn_registry reg;
    hn_registry_init(&reg);
    hn_lua_options lo = {.allow_unsafe = s->unsafe_lua};
    cJSON *runs = NULL;
    int rc = HN_ERR;
    if (hn_registry_load_default(&reg, err) || hn_suite_load(s->suite_file, &lo, &reg, &runs, err) ||
        hn_suite_prepare(runs, &reg, NULL, err))
        goto done;
    int m = cJSON_GetArraySize(runs);
    *ids = calloc((size_t)(m ? m : 1), sizeof **ids);
    *n = 0;
    static char db_buf[1024];
    snprintf(db_buf, sizeof db_buf, "%s", hn_suite_db_path(cJSON_GetArrayItem(runs, 0), s->db));
    *db = db_buf;
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, 0), "suite");
    if (cJSON_IsString(sn)) snprintf(s->resolved_suite, sizeof s->resolved_suite, "%s", sn->valuestring);
    const cJSON *cfg;
    cJSON_ArrayForEach(cfg, runs) {
        char hash[17], status[16];
        int64_t id;
        hn_suite_config_hash(cfg, hash);
        if (hn_suite_find_run(db_buf, hash, &id, status, err)) goto done;
        if (id > 0) (*ids)[(*n)++] = id;
    }
    rc = HN_OK;
done:
    cJSON_Delete(runs);
    hn_registry_close(&reg);
    return rc;
}

int hn_select_load(hn_selection *s, hn_cmp_set *out, hn_error *err) {
    char default_db[4096];
    const char *db = s->db;
    if (!db) {
        if (hn_results_default_db(default_db, sizeof default_db, err)) return HN_ERR;
        db = default_db;
    }
    if (s->suite_file) {
        int64_t *ids = NULL;
        int n = 0;
        if (suite_ids(s, &ids, &n, &db, err)) {
            free(ids);
            return HN_ERR;
        }
        /* plus any ids given explicitly */
        ids = realloc(ids, (size_t)(n + s->n_ids + 1) * sizeof *ids);
        for (int k = 0; k < s->n_ids; k++) ids[n++] = s->ids[k];
        int rc = hn_cmp_load_ids(db, ids, n, out, err);
        free(ids);
        return rc;
    }
    if (access(db, F_OK) != 0) /* reading must not create an empty database */
        return hn_fail(err, "no results database at %s (runs create it; --db picks another)", db);
    if (s->n_ids) return hn_cmp_load_ids(db, s->ids, s->n_ids, out, err);
    char where[1200];
    if (s->suite_name) {
        char *q = sqlite3_mprintf("%Q", s->suite_name);
        snprintf(where, sizeof where, "json_extract(config_json, '$.suite') = %s%s%s%s", q,
                 s->where ? " AND (" : "", s->where ? s->where : "", s->where ? ")" : "");
        sqlite3_free(q);
    } else {
        snprintf(where, sizeof where, "%s", s->where ? s->where : "1");
    }
    return hn_cmp_load_where(db, where, 1, out, err);
}
