/* config.h - st.yaml: defaults, file, environment and flags, in that rising order. */
#ifndef ST_CONFIG_H
#define ST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "st/err.h"

#define ST_PATH_MAX 1024
#define ST_CONFIG_FILE_MAX (1024 * 1024) /* a config file larger than this is refused */
#define ST_BIND_MAX 16
#define ST_SEEDS_MAX 256

/* Where the value of a key came from, lowest precedence first. */
enum st_origin {
	ST_ORIGIN_DEFAULT,
	ST_ORIGIN_FILE,
	ST_ORIGIN_ENV,
	ST_ORIGIN_FLAG,
};

/* One entry of the `seeds:` list: exactly one of url and dns is set. */
struct st_seed_conf {
	char url[ST_PATH_MAX];     /* "" unless an HTTP(S) seed list */
	char dns[256];             /* "" unless a DNS seed name */
	char format[16];           /* "" (auto), "text", "json", "bitcoin" */
	uint16_t port;             /* port for DNS seeds; 0: the network default */
	char public_key[ST_PATH_MAX]; /* "" or an Ed25519 public key (PEM file path or base64) */
};

/* How a program waits for a table's lock (st_store_open_wait). */
struct st_lock_wait {
	int64_t ms;      /* lock_wait: give up after this long (ST_EX_TEMPFAIL); 0: never wait */
	void (*notice)(void *ctx, const char *msg); /* told once when a wait passes a second */
	void (*alert)(void *ctx, const char *msg);  /* told of an automatic repair (repair: auto) */
	void *ctx;
};

/*
 * The effective configuration of every program. Each field has one key in
 * st.yaml ("addrbook.max_addresses"), one environment variable (ST_ + the key
 * upper-cased with '.' -> '_': ST_ADDRBOOK_MAX_ADDRESSES) and a default; see
 * st.yaml(5). Durations are milliseconds, shares are fractions 0..1.
 */
struct st_config {
	char data_dir[ST_PATH_MAX];  /* resolved: flag, ST_DATA_DIR, file, XDG default */
	struct st_lock_wait lock;    /* lock_wait 10m; notice and alert set by the program */
	bool repair_auto;            /* repair: auto (a damaged table is repaired) or never */
	bool tls;                    /* tls: false; true: mutual TLS, ids verified (st-connect, st-listen) */
	int tls_min_version;         /* tls_min_version: 13 (TLS 1.3), or 12 (TLS 1.2) */

	struct {
		uint32_t max_addresses;        /* 10000 */
		uint32_t max_per_subnet;       /* 10 per IPv4 /24 or IPv6 /48 */
		double max_per_source_group;   /* 0.10 of max_addresses */
		bool allow_private;            /* false */
		int64_t max_age;               /* 30d: prune default */
	} addrbook;

	struct {
		char node_id[128 + 1];     /* "" : derived from the identity key, else generated and kept */
		char user_agent[128 + 1];  /* "st/VERSION" */
		char key[ST_PATH_MAX];     /* "" : DATA_DIR/node.key (st-keygen's), the TLS key */
		char cert[ST_PATH_MAX];    /* "" : DATA_DIR/node.crt, the TLS certificate */
	} node;

	struct {
		int32_t success_delta;       /* +1 */
		int32_t failure_delta;       /* -2 */
		int32_t blacklist_threshold; /* -10 */
		uint32_t max_failures;       /* 5 consecutive */
		int64_t ban_duration;        /* 24h */
	} peers;

	struct {
		uint32_t jobs;             /* 64 dials at once */
		int64_t timeout;           /* 10s per endpoint, connect to result */
		uint64_t max_memory;       /* 256 MiB: every dial's buffers together */
		char bind[64];             /* "": the kernel picks the source address */
	} connect;

	struct {
		char bind[ST_BIND_MAX][64]; /* "0.0.0.0:7777" */
		size_t nbind;
		uint32_t max_conns;         /* 1024 */
		uint32_t max_per_ip;        /* 8 */
		int64_t idle_timeout;       /* 5m */
		int64_t handshake_timeout;  /* 10s */
		int64_t getpeers_interval;  /* 5m between GetPeers answers to one address */
		uint64_t max_memory;        /* 256 MiB: every session's buffers together */
		char metrics[64];           /* "": no metrics; "PORT" or "ADDR:PORT" (metrics.h) */
	} listen;

	struct {
		int64_t timeout;            /* 30s per seed list */
		uint64_t max_size;          /* 8 MiB */
		uint32_t retries;           /* 3 */
		uint32_t max_redirects;     /* 5 */
		char dns_resolver[64];      /* "" : the system's */
		char cacert[ST_PATH_MAX];   /* "" : the system's */
	} seed;

	struct st_seed_conf *seeds;     /* the `seeds:` list, nseeds entries; owned */
	size_t nseeds;

	char path_[ST_PATH_MAX];        /* internal: the file loaded, "" for none */
	unsigned char origin_[64];      /* internal: enum st_origin per key */
};

/* Fills cfg with the built-in defaults (no file, no environment). */
void st_config_init(struct st_config *cfg);

/*
 * Loads the config file and then the environment over cfg. path is the
 * --config flag or NULL; without it: $ST_CONFIG, else
 * $XDG_CONFIG_HOME/spacetime/st.yaml, else /etc/spacetime/st.yaml, and none at
 * all is fine (defaults). A file named by flag or ST_CONFIG must exist. Errors
 * name "FILE:LINE:COLUMN: KEY: reason" (unknown keys: "did you mean 'x'?").
 * Returns 0 or -1 (ST_EX_DATAERR for a bad file, ST_EX_NOINPUT for a missing one).
 */
int st_config_load(struct st_config *cfg, const char *path, struct st_err *err);

/*
 * Sets one key from text, validated exactly as the file is ("addrbook.max_addresses",
 * "5000"); used for flags and the environment. Returns 0 or -1 naming the key.
 */
int st_config_set(struct st_config *cfg, const char *key, const char *value,
                  enum st_origin origin, struct st_err *err);

/* Sets data_dir from the --data-dir flag (NULL: keep) and resolves it; creates
 * nothing (a writer's st_store_open creates it, mode 0700). Returns 0 or -1. */
int st_config_data_dir(struct st_config *cfg, const char *flag, struct st_err *err);

/* Writes the effective config as YAML, each key commented with its origin. */
int st_config_print(const struct st_config *cfg, FILE *out, struct st_err *err);

/* Writes an example st.yaml: every key with its help, environment variable and
 * default, commented out (the installed /etc/spacetime/st.yaml). */
int st_config_example(FILE *out, struct st_err *err);

/* The file that was loaded, or "" when none. */
const char *st_config_path(const struct st_config *cfg);

/* repair: auto: tells cfg->lock.alert that a table damaged as damage says was
 * repaired, keeping kept entries and losing lost lines. */
void st_config_tell_repaired(const struct st_config *cfg, const struct st_err *damage, size_t kept,
                             size_t lost);

/* Frees the seeds list. */
void st_config_free(struct st_config *cfg);

/*
 * Parses a whole YAML document from memory (the fuzz target's entry point and
 * the unit tests'); name is used in messages. Returns 0 or -1.
 */
int st_config_parse(struct st_config *cfg, const char *name, const char *text, size_t len,
                    struct st_err *err);

#endif
