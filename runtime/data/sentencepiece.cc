// The C interface of sentencepiece.h over libsentencepiece's C++ API. No exception
// leaves this file: each entry point catches and reports.
#include <sentencepiece_processor.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "data/sentencepiece.h"
#include "data/token_table.h"
}

struct hn_spm {
    sentencepiece::SentencePieceProcessor sp;
    std::string path;
    hn_token_table table;   // id -> bytes
    int32_t byte_piece[256]; // <0xNN>
};

namespace {

const size_t CHUNK = 64 * 1024;
const char SPACE_MARK[] = "\xe2\x96\x81"; // U+2581, SentencePiece's space

// The bytes a piece stands for: byte pieces their byte, control and unknown pieces
// nothing, the others their text with '▁' read as a space.
std::string piece_bytes(const sentencepiece::SentencePieceProcessor &sp, int id) {
    const std::string &piece = sp.IdToPiece(id);
    if (sp.IsByte(id)) {
        unsigned v = 0;
        if (std::sscanf(piece.c_str(), "<0x%2X>", &v) == 1) return std::string(1, (char)v);
    }
    if (sp.IsControl(id) || sp.IsUnknown(id)) return std::string();
    std::string out;
    for (size_t i = 0; i < piece.size();) {
        if (piece.compare(i, 3, SPACE_MARK) == 0) out += ' ', i += 3;
        else out += piece[i++];
    }
    return out;
}

int load(hn_spm *t, const char *path, hn_error *err) {
    auto status = t->sp.Load(path);
    if (!status.ok())
        return hn_fail(err, "SentencePiece model %s: %s", path, status.ToString().c_str());
    int n = t->sp.GetPieceSize();
    if (n <= 0) return hn_fail(err, "SentencePiece model %s: no pieces", path);
    if (hn_token_table_init(&t->table, (size_t)n))
        return hn_fail(err, "SentencePiece model %s: out of memory", path);
    for (int id = 0; id < n; id++) {
        std::string b = piece_bytes(t->sp, id);
        if (hn_token_table_set(&t->table, id, (const uint8_t *)b.data(), b.size()))
            return hn_fail(err, "SentencePiece model %s: out of memory", path);
    }
    for (int v = 0; v < 256; v++) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", v);
        int id = t->sp.PieceToId(name);
        if (id < 0 || !t->sp.IsByte(id))
            return hn_fail(err, "SentencePiece model %s has no byte piece %s: hnet needs every byte "
                                "to encode, so train the model with --byte_fallback=true", path, name);
        t->byte_piece[v] = id;
    }
    return HN_OK;
}

// Length of the valid UTF-8 character at p[0..n), or 0 when p starts none.
size_t utf8_char(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xc0) != 0x80) return 0;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k < len; k++) cp = cp << 6 | (p[k] & 0x3f);
    // overlong forms, surrogates and code points past U+10FFFF are not valid UTF-8
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
    return len;
}

// Where to end a chunk of the valid run p[0..n) starting at `at`: n when the rest fits,
// else just before the last space within CHUNK bytes, else at the last character start.
size_t chunk_end(const uint8_t *p, size_t n, size_t at) {
    if (n - at <= CHUNK) return n;
    size_t limit = at + CHUNK;
    for (size_t i = limit; i > at + 1; i--)
        if (p[i - 1] == ' ' && i - 1 > at) return i - 1;
    size_t i = limit;
    while (i > at + 1 && (p[i] & 0xc0) == 0x80) i--; // not inside a character
    return i;
}

int encode_run(const hn_spm *t, const uint8_t *p, size_t n, std::vector<int32_t> &out,
               hn_error *err) {
    std::vector<int> ids;
    for (size_t at = 0; at < n;) {
        size_t end = chunk_end(p, n, at);
        ids.clear();
        auto status = t->sp.Encode(absl::string_view((const char *)p + at, end - at), &ids);
        if (!status.ok())
            return hn_fail(err, "SentencePiece model %s: encoding failed: %s", t->path.c_str(),
                           status.ToString().c_str());
        size_t k = at; // the pieces must spell p[at..end) exactly
        for (int id : ids) {
            size_t len = t->table.len[id];
            if (len == 0 && t->sp.IsControl(id)) continue; // <s>, </s>: stand for no bytes
            if (len == 0 || k + len > end || std::memcmp(t->table.bytes[id], p + k, len) != 0) break;
            k += len;
            out.push_back(id);
        }
        if (k != end)
            return hn_fail(err, "SentencePiece model %s does not reproduce the text (at byte %zu of "
                                "a chunk: \"%.40s\"): it normalises text, adds a dummy prefix, removes "
                                "whitespace or maps characters to <unk>. hnet needs exact bytes: train it "
                                "with --byte_fallback=true --normalization_rule_name=identity "
                                "--add_dummy_prefix=false --remove_extra_whitespaces=false",
                           t->path.c_str(), k - at,
                           std::string((const char *)p + at, end - at < 40 ? end - at : 40).c_str());
        at = end;
    }
    return HN_OK;
}

} // namespace

extern "C" int hn_spm_load(const char *path, hn_spm **out, hn_error *err) {
    *out = nullptr;
    hn_spm *t = nullptr;
    try {
        t = new hn_spm();
        std::memset(&t->table, 0, sizeof t->table);
        t->path = path;
        if (load(t, path, err) != HN_OK) {
            hn_spm_free(t);
            return HN_ERR;
        }
    } catch (const std::exception &e) {
        hn_spm_free(t);
        return hn_fail(err, "SentencePiece model %s: %s", path, e.what());
    }
    *out = t;
    return HN_OK;
}

extern "C" void hn_spm_free(hn_spm *t) {
    if (!t) return;
    hn_token_table_free(&t->table);
    delete t;
}

extern "C" size_t hn_spm_vocab_size(const hn_spm *t) { return t->table.n; }

extern "C" const uint8_t *hn_spm_token(const hn_spm *t, int32_t id, size_t *len) {
    if (id < 0 || (size_t)id >= t->table.n) return *len = 0, nullptr;
    *len = t->table.len[id];
    return t->table.bytes[id];
}

extern "C" int hn_spm_encode(const hn_spm *t, const uint8_t *p, size_t n, int32_t **ids,
                             size_t *nids, hn_error *err) {
    *ids = nullptr, *nids = 0;
    try {
        std::vector<int32_t> out;
        out.reserve(n / 3 + 16);
        for (size_t at = 0; at < n;) {
            size_t end = at;
            while (end < n) {
                size_t len = utf8_char(p + end, n - end);
                if (!len) break;
                end += len;
            }
            if (end > at && encode_run(t, p + at, end - at, out, err) != HN_OK) return HN_ERR;
            if (end < n) out.push_back(t->byte_piece[p[end++]]); // not valid UTF-8
            at = end;
        }
        if (out.empty()) return HN_OK;
        int32_t *buf = (int32_t *)std::malloc(out.size() * sizeof *buf);
        if (!buf) return hn_fail(err, "SentencePiece encode: out of memory");
        std::memcpy(buf, out.data(), out.size() * sizeof *buf);
        *ids = buf, *nids = out.size();
        return HN_OK;
    } catch (const std::exception &e) {
        return hn_fail(err, "SentencePiece model %s: encoding failed: %s", t->path.c_str(), e.what());
    }
}
