/* Prints the ids hnet's tokenizer gives a file, one a line: encode SPEC_JSON TEXT */
#include <stdio.h>
#include <stdlib.h>

#include "data/read.h"
#include "data/tokenizer.h"

int main(int argc, char **argv) {
    hn_error err;
    hn_tokenizer *t;
    cJSON *spec = argc == 3 ? cJSON_Parse(argv[1]) : NULL;
    hn_bytebuf text = {0};
    int32_t *ids;
    size_t n;
    if (!spec) return fprintf(stderr, "usage: encode SPEC_JSON TEXT\n"), 2;
    if (hn_tokenizer_load(spec, &t, &err) || hn_read_file_append(argv[2], &text, &err) ||
        hn_tokenizer_encode(t, text.p, text.n, &ids, &n, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    for (size_t i = 0; i < n; i++) printf("%d\n", (int)ids[i]);
    return 0;
}
