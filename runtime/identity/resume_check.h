/* Which checkpoints a run owns, and whether a resume may continue them. A run's
 * checkpoints live in <checkpoint.dir>/<name>; a run whose config carries command-line
 * overrides (a smoke run) keeps them in <name>@<config hash>, so it never displaces
 * the declared run's checkpoints (what `hnet sample <dir>/<name>` reads). */
#ifndef HN_IDENTITY_RESUME_CHECK_H
#define HN_IDENTITY_RESUME_CHECK_H

#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

/* train/checkpoint.h (its trainer section sits outside its include guard, so it is
 * included once per file: here only declared) */
struct hn_ckpt_settings;

/* Appends "@<hash>" to cs->run_dir when cfg carries overrides. */
void hn_identity_checkpoint_dir(struct hn_ckpt_settings *cs, const cJSON *cfg, const char *hash);

/* The run uuid in the newest good checkpoint of run_dir ("" when none or older file). */
void hn_identity_checkpoint_uuid(const char *run_dir, char uuid[33]);

/* Before `--resume`: a resume keeps the run's config. Refuses, saying what differs and
 * what to do instead, when the checkpoint it would continue was written under another
 * config than cfg, or, for a config with overrides that has no checkpoint of its own,
 * when a checkpoint of the same name under another config exists (the override would
 * otherwise quietly start a new run, or splice two schedules into one). */
int hn_identity_check_resume(const struct hn_ckpt_settings *cs, const cJSON *cfg, const char *name,
                             const char *hash, hn_error *err);

#endif
