#include "data/known.h"

#include <string.h>

static const hn_known_corpus known[] = {
    {"english", "110 English public-domain books (Project Gutenberg)", 70743931,
     "dbb27eb2da8506c37e00047fbb75c6e5463bc6306538935b97bb53205be1d74b", NULL, NULL, NULL,
     NULL, 0, 0},
    {"tinyshakespeare", "tiny shakespeare (char-rnn)", 1115394,
     "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
     "6fb458f1232090904fb40fe944165e91",
     "https://raw.githubusercontent.com/karpathy/char-rnn/"
     "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
     NULL, "1.1 MB", 0, 0},
    {"chinese", "four classical Chinese novels, UTF-8", 8867787,
     "587d92aabb3bb8be976443428e712fc4ad5ecf55ac0785763134bb9a1ca636d7", NULL, NULL, NULL,
     NULL, 0, 0},
    {"code", "curl C sources, concatenated", 9177848,
     "b04f432e817551e38b549bae6f288a2ef4b1c954a33bc2a9f8d32e5d43304339", NULL, NULL, NULL,
     NULL, 0, 0},
    {"dna", "E. coli K-12 MG1655 genome, one line", 4641653,
     "38ac5dfb53d51f0cadb88000e31e28e0df53ab7e730871aabe617588db05f454", NULL, NULL, NULL,
     NULL, 0, 0},
    {"fineweb-edu-sample", "first 1,000,000 characters of FineWeb-Edu sample-10BT", 1004029,
     "898138edfad3ff17d91697ee8c758d64b79356720c427accddbbdf6612bb5a6e",
     "78accda121bb7464da2fe85ab677ee52",
     "https://raw.githubusercontent.com/sdrshn-nmbr/gpt-2.x/"
     "5c89630697f144d518b455077107b8bc3b21a54b/fineweb_sample.txt",
     NULL, "1 MB", 0, 0},
    /* Hutter Prize enwik8; standard 90M/5M/5M split (the last 5M, test, is not used). */
    {"enwik8", "first 10^8 bytes of the 2006-03-03 English Wikipedia XML dump", 100000000,
     "2b49720ec4d78c3c9fabaee6e4179a5e997302b3a70029f30f2d582218c024a8",
     "a1fa5ffddb56f4953e226637dabbb36a", "http://mattmahoney.net/dc/enwik8.zip", "enwik8",
     "about 36 MB", 90000000, 95000000},
    /* Mahoney's text8: enwik8 cleaned to lowercase a-z and space; same split. */
    {"text8", "enwik8 cleaned to the 26 lowercase letters and space (Matt Mahoney)", 100000000,
     "6e890197040d37d85beb962ae1f041ff1d9a9ca8d20c7d99c85027eebf51dca7", NULL,
     "http://mattmahoney.net/dc/text8.zip", "text8", "about 31 MB", 90000000, 95000000},
};

const hn_known_corpus *hn_known_corpus_find(const char *name) {
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, name) == 0) return &known[i];
    return NULL;
}

const hn_known_corpus *hn_known_corpora(size_t *count) {
    *count = sizeof known / sizeof known[0];
    return known;
}

const char *hn_known_corpus_names(void) {
    return "english, tinyshakespeare, chinese, code, dna, fineweb-edu-sample, enwik8, text8";
}

const char *hn_known_corpus_fetchable(void) {
    return "tinyshakespeare, fineweb-edu-sample, enwik8, text8";
}
