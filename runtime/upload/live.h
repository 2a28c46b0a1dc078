/* Live upload while training (`hnet run --upload SINK=DEST`): a background thread with
 * its own connection to results.db polls for the points the trainer has committed and
 * uploads them. The training thread never waits for it: the database is the queue
 * (nothing is held in memory, so nothing is dropped), reads in WAL mode do not block
 * the trainer's writes, and the thread's own writes are one short transaction per
 * acknowledged batch. What a failing network leaves behind stays in results.db for a
 * later `hnet upload`. */
#ifndef HN_UPLOAD_LIVE_H
#define HN_UPLOAD_LIVE_H

#include "upload/upload.h"

typedef struct hn_live_upload hn_live_upload;

/* Starts the thread. It uploads every run that this process has running (same host and
 * pid) in db_path, every interval_s seconds. opt is copied (its strings and
 * sink_options must outlive the thread). */
int hn_live_upload_start(const char *db_path, const hn_sink_plugin *sink,
                         const hn_upload_options *opt, double interval_s,
                         hn_live_upload **out, hn_error *err);

/* Asks for a last pass (so a finished run is uploaded and ended), waits for it at most
 * grace_s seconds, then cancels retries and joins. Returns HN_ERR with the last upload
 * error, if the last pass did not complete cleanly. NULL is allowed. */
int hn_live_upload_stop(hn_live_upload *lu, double grace_s, hn_error *err);

#endif
