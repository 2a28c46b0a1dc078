/* A plugin's config section, read through typed accessors: the ABI carries an opaque
 * hn_config, never the JSON library's types, so a plugin needs no JSON library and the
 * runtime may change how it holds configuration. The runtime has validated the section
 * against the plugin's hn_config_key list and filled the defaults, but a plugin that
 * wants its own messages can still ask what a key holds. */
#ifndef HN_CONFIG_VIEW_H
#define HN_CONFIG_VIEW_H

typedef struct hn_config hn_config;

typedef enum hn_config_kind {
    HN_CONFIG_ABSENT = 0, /* no such key (or no section) */
    HN_CONFIG_NULL,
    HN_CONFIG_BOOL,
    HN_CONFIG_NUMBER,
    HN_CONFIG_STRING,
    HN_CONFIG_OTHER, /* a table or a list */
} hn_config_kind;

/* What key holds; cfg may be NULL (an empty section). */
hn_config_kind hn_config_kind_of(const hn_config *cfg, const char *key);
/* The number at key; NaN when key does not hold a number. */
double hn_config_number(const hn_config *cfg, const char *key);
/* The string at key (valid while cfg lives); NULL when key does not hold a string. */
const char *hn_config_string(const hn_config *cfg, const char *key);
/* 1 or 0 for a boolean at key; -1 when key does not hold a boolean. */
int hn_config_bool(const hn_config *cfg, const char *key);

#endif
