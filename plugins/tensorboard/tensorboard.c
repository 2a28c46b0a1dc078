/* TensorBoard sink: writes TensorBoard event files, one folder per run:
 *   DIR/<run name>-<run id>/events.out.tfevents.<start s>.<run uid>
 * A file is a sequence of TFRecords: uint64 length, uint32 masked CRC-32C of the length
 * bytes, the data, uint32 masked CRC-32C of the data (little-endian). Each record is a
 * serialized tensorflow.Event; the few protobuf fields needed are encoded by hand:
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; }
 * The first record carries file_version "brain.Event:2"; then one Event per point, its
 * tag "split/name". Idempotent and resumable: the runtime keeps the file length it has
 * acknowledged (offset), and begin_run cuts the file back to it, so a batch written but
 * never recorded is written again in place instead of twice. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/fs.h"
#include "plugin/plugin.h"
#include "plugin/sink_abi.h"

typedef struct tb {
    char dir[2048];
    char path[4400];
    int fd;
} tb;

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 256;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_varint(buf *b, uint64_t v) {
    unsigned char t[10];
    int n = 0;
    do {
        t[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    put(b, t, (size_t)n);
}

static void put_le(buf *b, uint64_t v, int bytes) {
    unsigned char t[8];
    for (int i = 0; i < bytes; i++) t[i] = (unsigned char)(v >> (8 * i));
    put(b, t, (size_t)bytes);
}

static void put_double(buf *b, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    put_le(b, u, 8);
}

/* One TFRecord around the serialized event ev. */
static void put_record(buf *out, const buf *ev) {
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)ev->n >> (8 * i));
    put(out, len, 8);
    put_le(out, hn_crc32c_mask(hn_crc32c(0, len, 8)), 4);
    put(out, ev->p, ev->n);
    put_le(out, hn_crc32c_mask(hn_crc32c(0, ev->p, ev->n)), 4);
    if (ev->oom) out->oom = 1;
}

static void event_head(buf *ev, double wall_time, int64_t step) {
    put_varint(ev, (1 << 3) | 1); /* wall_time, fixed64 */
    put_double(ev, wall_time);
    put_varint(ev, (2 << 3) | 0); /* step, varint */
    put_varint(ev, (uint64_t)step);
}

static void scalar_event(buf *out, double wall_time, int64_t step, const char *tag, float v) {
    buf value = {0}, summary = {0}, ev = {0};
    size_t tl = strlen(tag);
    put_varint(&value, (1 << 3) | 2); /* tag */
    put_varint(&value, tl);
    put(&value, tag, tl);
    put_varint(&value, (2 << 3) | 5); /* simple_value, fixed32 */
    uint32_t u;
    memcpy(&u, &v, 4);
    put_le(&value, u, 4);
    put_varint(&summary, (1 << 3) | 2); /* Summary.value */
    put_varint(&summary, value.n);
    put(&summary, value.p, value.n);
    event_head(&ev, wall_time, step);
    put_varint(&ev, (5 << 3) | 2); /* Event.summary */
    put_varint(&ev, summary.n);
    put(&ev, summary.p, summary.n);
    ev.oom |= value.oom | summary.oom;
    put_record(out, &ev);
    free(value.p), free(summary.p), free(ev.p);
}

static int create(const char *destination, const cJSON *options, const hn_sink_env *env,
                  void **self, hn_error *err) {
    tb *t = calloc(1, sizeof *t);
    if (!t) return hn_fail(err, "out of memory");
    snprintf(t->dir, sizeof t->dir, "%s", destination);
    t->fd = -1;
    if (hn_mkdir_p(t->dir, err)) {
        free(t);
        return HN_ERR;
    }
    *self = t;
    return HN_OK;
}

static int write_all(tb *t, const buf *b, int64_t at, hn_error *err) {
    if (b->oom) return hn_fail(err, "out of memory");
    size_t done = 0;
    while (done < b->n) {
        ssize_t w = pwrite(t->fd, b->p + done, b->n - done, (off_t)(at + (int64_t)done));
        if (w < 0) {
            if (errno == EINTR) continue;
            return hn_fail(err, "%s: write failed: %s", t->path, strerror(errno));
        }
        done += (size_t)w;
    }
    if (fdatasync(t->fd)) return hn_fail(err, "%s: sync failed: %s", t->path, strerror(errno));
    return HN_OK;
}

static int begin_run(void *self, const hn_sink_run *run, char *remote_id, size_t size,
                     int64_t *offset, hn_error *err) {
    tb *t = self;
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    char folder[300];
    int n = snprintf(folder, sizeof folder, "%.200s-%lld", run->name, (long long)run->local_id);
    for (int i = 0; i < n && i < (int)sizeof folder; i++) /* a file name, whatever the run name */
        if (folder[i] == '/' || folder[i] == '\\' || (unsigned char)folder[i] < 32) folder[i] = '_';
    char sub[2400];
    snprintf(sub, sizeof sub, "%s/%s", t->dir, folder);
    if (hn_mkdir_p(sub, err)) return HN_ERR;
    snprintf(t->path, sizeof t->path, "%s/events.out.tfevents.%lld.%s", sub,
             (long long)(run->start_ms / 1000), run->uid);
    t->fd = open(t->path, O_RDWR | O_CREAT, 0666);
    if (t->fd < 0) return hn_fail(err, "cannot open %s: %s", t->path, strerror(errno));
    struct stat st;
    if (fstat(t->fd, &st)) return hn_fail(err, "%s: %s", t->path, strerror(errno));
    if (st.st_size < *offset)
        return hn_fail(err, "%s is shorter (%lld bytes) than what was uploaded (%lld); remove "
                            "the folder and this upload's row in the uploads table to rewrite it",
                       t->path, (long long)st.st_size, (long long)*offset);
    /* anything past the acknowledged length was never recorded as uploaded */
    if (ftruncate(t->fd, (off_t)*offset)) return hn_fail(err, "%s: %s", t->path, strerror(errno));
    if (*offset == 0) {
        buf ev = {0}, rec = {0};
        event_head(&ev, (double)run->start_ms / 1000.0, 0);
        put_varint(&ev, (3 << 3) | 2);
        put_varint(&ev, 13);
        put(&ev, "brain.Event:2", 13);
        put_record(&rec, &ev);
        int rc = write_all(t, &rec, 0, err);
        if (rc == HN_OK) *offset = (int64_t)rec.n;
        free(ev.p), free(rec.p);
        if (rc) return rc;
    }
    snprintf(remote_id, size, "%s", folder);
    return HN_OK;
}

static int log_batch(void *self, const hn_sink_metric *m, int n, int64_t *offset,
                     hn_error *err) {
    tb *t = self;
    buf out = {0};
    for (int i = 0; i < n; i++)
        scalar_event(&out, (double)m[i].timestamp_ms / 1000.0, m[i].step, m[i].key, (float)m[i].value);
    int rc = write_all(t, &out, *offset, err);
    if (rc == HN_OK) *offset += (int64_t)out.n;
    free(out.p);
    return rc;
}

static int end_run(void *self, const hn_sink_run *run, int64_t *offset, hn_error *err) {
    tb *t = self;
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    return HN_OK;
}

static void destroy(void *self) {
    tb *t = self;
    if (t && t->fd >= 0) close(t->fd);
    free(t);
}

static const hn_sink_plugin plugin = {
    .abi_version = HN_SINK_ABI_VERSION,
    .name = "tensorboard",
    .version = "1.0",
    .summary = "TensorBoard event files, one folder per run (--dir DIR)",
    .max_batch = 1000,
    .create = create,
    .begin_run = begin_run,
    .log_batch = log_batch,
    .end_run = end_run,
    .destroy = destroy,
};

HN_PLUGIN_SINK(&plugin, 2)
