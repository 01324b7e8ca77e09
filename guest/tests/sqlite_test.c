/* SPDX-License-Identifier: MIT */
/*
 * The SQLite test guest: Debian's SQLite (the amalgamation generated from
 * its source package by scripts/fetch-sources.sh), unmodified, with its
 * own unix VFS over the runtime's files: databases read from the
 * read-only tree, written (and temporary files) in /tmp.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nubguest.h>
#include <sqlite3.h>

#include "sqlite_test_ids.h"

struct rows {
	uint8_t *out;
	uint32_t cap, len;
	int full;
};

static int on_row(void *user, int n, char **values, char **names)
{
	struct rows *r = user;

	(void)names;
	for (int i = 0; i < n; i++) {
		const char *v = values[i] ? values[i] : "NULL";
		int w = snprintf((char *)r->out + r->len, r->cap - r->len, "%s%s", i ? "|" : "", v);
		if (w < 0 || (uint32_t)w >= r->cap - r->len)
			return r->full = 1;
		r->len += (uint32_t)w;
	}
	if (r->len + 1 >= r->cap)
		return r->full = 1;
	r->out[r->len++] = '\n';
	return 0;
}

static int32_t put_text(uint8_t *out, uint32_t cap, uint32_t *out_len, const char *s)
{
	size_t n = strlen(s);

	if (n > cap)
		n = cap;
	memcpy(out, s, n);
	*out_len = (uint32_t)n;
	return 0;
}

static int32_t fn_sql(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	static char text[65536];
	struct rows r = {out, cap, 0, 0};
	char *nl, *msg = NULL;
	sqlite3 *db = NULL;
	int flags, rc;

	if (in_len >= sizeof(text))
		return NUB_EFULL;
	memcpy(text, in, in_len);
	text[in_len] = 0;
	nl = strchr(text, '\n');
	if (!nl)
		return NUB_EINVAL;
	*nl = 0;
	flags = !strncmp(text, "/tmp/", 5) || !strcmp(text, ":memory:")
	                ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
	                : SQLITE_OPEN_READONLY;
	rc = sqlite3_open_v2(text, &db, flags, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, nl + 1, on_row, &r, &msg);
	if (rc != SQLITE_OK) {
		put_text(out, cap, out_len, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		sqlite3_close(db);
		return -rc;
	}
	sqlite3_close(db);
	*out_len = r.len;
	return r.full ? NUB_EFULL : 0;
}

static int32_t fn_read(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	char path[4096];
	size_t n = in_len < sizeof(path) - 1 ? in_len : sizeof(path) - 1;
	FILE *f;

	memcpy(path, in, n);
	path[n] = 0;
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	*out_len = (uint32_t)fread(out, 1, cap, f);
	fclose(f);
	return 0;
}

void nub_guest_main(void)
{
	if (sqlite3_initialize() != SQLITE_OK)
		nub_abort(1, "sqlite3_initialize failed");
	nub_register(SQLITE_FN_SQL, "sql", fn_sql);
	nub_register(SQLITE_FN_READ, "read", fn_read);
}
