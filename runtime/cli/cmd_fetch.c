/* hnet fetch NAME [--dir D] [--url U] | --list: downloads a known corpus once and
 * verifies it, or lists the named corpora and where they stand.
 * argv[0] is the command name ("fetch"); options and NAME follow in any order. */
#include <stdio.h>
#include <string.h>

#include "data/corpus.h"
#include "data/fetch.h"
#include "data/known.h"

int hn_cmd_fetch(int argc, char **argv);

static void fetch_usage(FILE *f) {
    fprintf(f,
            "usage: hnet fetch NAME [--dir D] [--url U]\n"
            "       hnet fetch --list [--dir D]\n"
            "\n"
            "Downloads a known corpus once, checks the size, md5 and sha256 of its\n"
            "uncompressed content and stores it as D/NAME (written to a temporary file\n"
            "and renamed, so D never holds a partial or unverified corpus). Nothing is\n"
            "downloaded when D already holds the verified corpus.\n"
            "\n"
            "  NAME      tinyshakespeare, fineweb-edu-sample, enwik8 or text8 (the other\n"
            "            named corpora cannot be downloaded: experiments/DATA.md says how\n"
            "            to make them)\n"
            "  --list    every named corpus, whether it can be fetched, and whether D\n"
            "            holds it\n"
            "  --dir D   where to store it (default: $HNET_DATA_DIR, else the per-user\n"
            "            data folder $XDG_DATA_HOME/hnet or ~/.local/share/hnet), the\n"
            "            folder that named corpora are read from\n"
            "  --url U   download from U instead of the standard address (a mirror, or\n"
            "            file:///path/enwik8.zip); the same checks apply\n"
            "  --help    this text\n");
}

/* Accepts "--opt VALUE" and "--opt=VALUE"; 1 when argv[*i] was that option. */
static int option(const char *opt, int argc, char **argv, int *i, const char **value, int *bad) {
    size_t n = strlen(opt);
    const char *a = argv[*i];
    if (strncmp(a, opt, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "hnet fetch: %s needs a value\n", opt);
        *bad = 1;
        return 1;
    }
    *value = argv[++*i];
    return 1;
}

/* One line per named corpus: name, size, fetchable or not, present in dir or not. */
static int list_corpora(const char *dir) {
    size_t n;
    const hn_known_corpus *k = hn_known_corpora(&n);
    printf("data folder: %s\n", dir);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        hn_error err;
        int have = hn_corpus_present(k[i].name, dir, path, sizeof path, &err);
        printf("  %-20s %12llu bytes  %-28s %s\n", k[i].name, (unsigned long long)k[i].size,
               k[i].url ? "hnet fetch" : "not fetchable (DATA.md)",
               have == 1 ? "present" : have == 0 ? "missing" : "present but NOT the standard file");
    }
    return 0;
}

int hn_cmd_fetch(int argc, char **argv) {
    const char *name = NULL, *dir = NULL, *url = NULL;
    int bad = 0, list = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fetch_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--list") == 0) {
            list = 1;
            continue;
        }
        if (option("--dir", argc, argv, &i, &dir, &bad) || option("--url", argc, argv, &i, &url, &bad))
            continue;
        if (a[0] == '-') {
            fprintf(stderr, "hnet fetch: unknown option %s (see hnet fetch --help)\n", a);
            return 2;
        }
        if (name) {
            fprintf(stderr, "hnet fetch: one corpus at a time (got %s and %s)\n", name, a);
            return 2;
        }
        name = a;
    }
    if (bad) return 2;
    if (list) return list_corpora(dir ? dir : hn_data_dir());
    if (!name) {
        fetch_usage(stderr);
        return 2;
    }
    if (!dir) dir = hn_data_dir();
    hn_error err;
    char path[4096];
    int have = hn_corpus_present(name, dir, path, sizeof path, &err);
    if (have == HN_ERR) {
        fprintf(stderr, "hnet fetch: %s\n", err.msg);
        return 1;
    }
    if (have == 1) {
        printf("%s: already present and verified: %s\n", name, path);
        return 0;
    }
    const hn_known_corpus *k = hn_known_corpus_find(name);
    if (k && k->url)
        printf("%s: downloading %s (%s) into %s\n", name, url ? url : k->url, k->download, dir);
    if (hn_corpus_fetch(name, dir, url, &err) != HN_OK) {
        fprintf(stderr, "hnet fetch: %s\n", err.msg);
        return 1;
    }
    printf("%s: stored %s/%s (size and sha256%s verified)\n", name, dir, name,
           k && k->md5 ? ", md5" : "");
    return 0;
}
