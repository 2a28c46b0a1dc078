#include "results/location.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The absolute folder the walk starts from: the anchor's folder, or the cwd. */
static int start_dir(const char *anchor, char *out, size_t cap, hn_error *err) {
    char buf[PATH_MAX];
    if (!anchor) {
        if (!getcwd(buf, sizeof buf))
            return hn_fail(err, "cannot read the current directory: %s", strerror(errno));
    } else {
        if (!realpath(anchor, buf))
            return hn_fail(err, "%s: %s", anchor, strerror(errno));
        char *slash = strrchr(buf, '/');
        if (slash == buf) buf[1] = 0;
        else if (slash) *slash = 0;
    }
    if ((size_t)snprintf(out, cap, "%s", buf) >= cap) return hn_fail(err, "path too long: %s", buf);
    return HN_OK;
}

int hn_project_dir(const char *anchor, char *out, size_t cap, hn_error *err) {
    char start[PATH_MAX], dir[PATH_MAX], probe[PATH_MAX + 16];
    if (start_dir(anchor, start, sizeof start, err) != HN_OK) return HN_ERR;
    snprintf(dir, sizeof dir, "%s", start);
    for (;;) {
        snprintf(probe, sizeof probe, "%s/results", strcmp(dir, "/") ? dir : "");
        int found = is_dir(probe);
        if (!found) {
            snprintf(probe, sizeof probe, "%s/.git", strcmp(dir, "/") ? dir : "");
            found = exists(probe);
        }
        if (found) break;
        char *slash = strrchr(dir, '/');
        if (!slash || strcmp(dir, "/") == 0) { /* nothing above: the start folder */
            snprintf(dir, sizeof dir, "%s", start);
            break;
        }
        if (slash == dir) slash[1] = 0;
        else *slash = 0;
    }
    if ((size_t)snprintf(out, cap, "%s", dir) >= cap) return hn_fail(err, "path too long: %s", dir);
    return HN_OK;
}

int hn_results_dir(const char *anchor, char *out, size_t cap, hn_error *err) {
    const char *env = getenv("HNET_RESULTS");
    if (env && *env) {
        if ((size_t)snprintf(out, cap, "%s", env) >= cap)
            return hn_fail(err, "HNET_RESULTS is too long");
        return HN_OK;
    }
    char project[PATH_MAX];
    if (hn_project_dir(anchor, project, sizeof project, err) != HN_OK) return HN_ERR;
    if ((size_t)snprintf(out, cap, "%s/results", strcmp(project, "/") ? project : "") >= cap)
        return hn_fail(err, "path too long: %s/results", project);
    return HN_OK;
}

int hn_results_path(const char *anchor, const char *configured, char *out, size_t cap,
                    hn_error *err) {
    const char *p = configured ? configured : "results/results.db";
    int n;
    if (p[0] == '/') {
        n = snprintf(out, cap, "%s", p);
    } else if (strcmp(p, "results") == 0 || strncmp(p, "results/", 8) == 0) {
        char dir[PATH_MAX];
        if (hn_results_dir(anchor, dir, sizeof dir, err) != HN_OK) return HN_ERR;
        n = snprintf(out, cap, "%s%s", dir, p + 7);
    } else {
        char project[PATH_MAX];
        if (hn_project_dir(anchor, project, sizeof project, err) != HN_OK) return HN_ERR;
        n = snprintf(out, cap, "%s/%s", strcmp(project, "/") ? project : "", p);
    }
    if (n < 0 || (size_t)n >= cap) return hn_fail(err, "path too long: %s", p);
    return HN_OK;
}

int hn_results_config_path(const cJSON *config, const char *configured, char *out, size_t cap,
                           hn_error *err) {
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(config, "file");
    return hn_results_path(cJSON_IsString(file) ? file->valuestring : NULL, configured, out, cap,
                           err);
}

int hn_results_default_db(char *out, size_t cap, hn_error *err) {
    return hn_results_path(NULL, NULL, out, cap, err);
}
