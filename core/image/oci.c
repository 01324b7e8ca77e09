/* SPDX-License-Identifier: MIT */
/*
 * Snapshots in an OCI image layout (nub_snapshot_save_oci / _load_oci): a
 * directory that registries' tools (`skopeo copy oci:DIR:TAG ...`) move.
 *
 *   DIR/oci-layout          {"imageLayoutVersion":"1.0.0"}
 *   DIR/index.json          one manifest per tag (annotation
 *                           org.opencontainers.image.ref.name)
 *   DIR/blobs/sha256/HEX    content-addressed: the manifest, a config
 *                           (application/vnd.nub.snapshot.config.v1+json:
 *                           format, generation, memory) and one layer, the
 *                           snapshot file itself (NUB_OCI_LAYER_TYPE)
 *
 * Blobs are named by their SHA-256, so tags of equal snapshots share them.
 * Loading trusts nothing in the directory: index and manifest are parsed by
 * a strict bounded reader (json.c), every digest must be "sha256:" and 64
 * lowercase hex digits (never a path), and every blob read is checked
 * against its digest and size before it is used; the snapshot bytes then
 * go through the file loader's own checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nub/nub.h>

#include "error_internal.h"
#include "image/json.h"
#include "image/snapshot.h"
#include "image/snapshot_file.h"

#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define CONFIG_TYPE   "application/vnd.nub.snapshot.config.v1+json"
#define REF_NAME      "org.opencontainers.image.ref.name"
#define JSON_MAX      (1u << 20) /* index and manifests: far more than nub writes */
#define TOKENS_MAX    4096u

struct digest {
	char hex[2 * crypto_hash_sha256_BYTES + 1];
};

static void digest_of(const uint8_t *p, size_t n, struct digest *d)
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, p, n);
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(d->hex + 2 * i, 3, "%02x", h[i]);
}

static int write_whole(const char *path, const void *p, size_t n, struct nub_error *err)
{
	char tmp[4200];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return nub_error_set(err, NUB_EINVAL, "%s: path too long", path);
	f = fopen(tmp, "wb");
	if (!f)
		return nub_error_set(err, NUB_EIO, "%s: %s", tmp, strerror(errno));
	if (fwrite(p, 1, n, f) != n || fclose(f)) {
		unlink(tmp);
		return nub_error_set(err, NUB_EIO, "%s: write failed: %s", tmp, strerror(errno));
	}
	if (rename(tmp, path)) {
		unlink(tmp);
		return nub_error_set(err, NUB_EIO, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* A blob, written once: an existing file of that name holds those bytes. */
static int put_blob(const char *dir, const void *p, size_t n, struct digest *d,
                    struct nub_error *err)
{
	char path[4200];

	digest_of(p, n, d);
	if (snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, d->hex) >= (int)sizeof(path))
		return nub_error_set(err, NUB_EINVAL, "%s: path too long", dir);
	return access(path, F_OK) ? write_whole(path, p, n, err) : 0;
}

static int make_dirs(const char *dir, struct nub_error *err)
{
	char path[4200];
	const char *sub[] = {"", "/blobs", "/blobs/sha256"};

	for (size_t i = 0; i < 3; i++) {
		if (snprintf(path, sizeof(path), "%s%s", dir, sub[i]) >= (int)sizeof(path))
			return nub_error_set(err, NUB_EINVAL, "%s: path too long", dir);
		if (mkdir(path, 0755) && errno != EEXIST)
			return nub_error_set(err, NUB_EIO, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* A JSON file of the layout, at most JSON_MAX bytes, NUL-terminated. */
static int read_json(const char *path, char **text, size_t *len, struct nub_error *err)
{
	uint8_t *buf = NULL;
	int rc = nub_snapshot_read_file(path, &buf, len, err);

	if (rc)
		return rc;
	if (*len > JSON_MAX) {
		free(buf);
		return nub_error_set(err, NUB_ECORRUPT, "%s: %zu bytes (at most %u)", path, *len,
		                     JSON_MAX);
	}
	*text = realloc(buf, *len + 1);
	if (!*text) {
		free(buf);
		return nub_error_set(err, NUB_ENOMEM, "out of memory reading %s", path);
	}
	(*text)[*len] = '\0';
	return 0;
}

/* ---- index.json ---- */

/* Tokenise text (len bytes) into tok (TOKENS_MAX) and find the array its
 * top object holds under `key`: 0 with *arr, or -1 with why set. */
static int parse_array_member(const char *text, size_t len, struct nub_json_tok *tok,
                              const char *key, uint32_t *arr, char *why, size_t cap)
{
	uint32_t n = 0;

	if (nub_json_parse(text, len, tok, TOKENS_MAX, &n, why, cap))
		return -1;
	*arr = nub_json_member(text, tok, 0, key);
	if (*arr && tok[*arr].type == NUB_JSON_ARRAY)
		return 0;
	snprintf(why, cap, "no %s array", key);
	return -1;
}

/* index.json at `path`, read and tokenised into tok (TOKENS_MAX), its
 * manifests array in *arr; *text from malloc (the caller frees it). */
static int read_index(const char *path, char **text, struct nub_json_tok *tok, uint32_t *arr,
                      struct nub_error *err)
{
	char why[128];
	size_t len = 0;
	int rc = read_json(path, text, &len, err);

	if (rc)
		return rc;
	if (parse_array_member(*text, len, tok, "manifests", arr, why, sizeof(why)))
		return nub_error_set(err, NUB_ECORRUPT, "%s: not an OCI index (%s)", path, why);
	return 0;
}

/* Whether manifest descriptor `m` is tagged `tag`. */
static int tagged(const char *text, const struct nub_json_tok *tok, uint32_t m, const char *tag)
{
	uint32_t ann = nub_json_member(text, tok, m, "annotations");
	uint32_t ref = ann ? nub_json_member(text, tok, ann, REF_NAME) : 0;

	return ref && nub_json_string_is(text, tok, ref, tag);
}

/* The manifests of the existing index other than `tag`'s, as their JSON
 * text joined by commas, into *kept (malloc; "" for none). */
static int other_manifests(const char *dir, const char *tag, char **kept, struct nub_error *err)
{
	char path[4200];
	struct nub_json_tok *tok = NULL;
	char *text = NULL, *out;
	size_t used = 0;
	uint32_t arr = 0;
	int rc;

	*kept = calloc(1, 1);
	if (!*kept)
		return nub_error_set(err, NUB_ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/index.json", dir);
	if (access(path, F_OK))
		return 0; /* a new layout */
	tok = malloc(TOKENS_MAX * sizeof(*tok));
	if (!tok)
		return nub_error_set(err, NUB_ENOMEM, "out of memory");
	rc = read_index(path, &text, tok, &arr, err);
	if (rc)
		goto free_index;
	out = malloc(tok[0].end + 1);
	if (!out) {
		rc = nub_error_set(err, NUB_ENOMEM, "out of memory");
		goto free_index;
	}
	for (uint32_t i = 0; i < tok[arr].size; i++) {
		uint32_t m = nub_json_item(tok, arr, i);
		if (tagged(text, tok, m, tag))
			continue; /* replaced */
		if (used)
			out[used++] = ',';
		memcpy(out + used, text + tok[m].start, tok[m].end - tok[m].start);
		used += tok[m].end - tok[m].start;
	}
	out[used] = '\0';
	free(*kept);
	*kept = out;
free_index:
	free(tok);
	free(text);
	return rc;
}

static int check_tag(const char *tag, struct nub_error *err)
{
	size_t n = tag ? strlen(tag) : 0;
	int ok = n && n <= 128 && tag[0] != '.' && tag[0] != '-';

	/* The OCI reference grammar for a tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
	for (size_t i = 0; ok && i < n; i++)
		ok = (tag[i] >= 'a' && tag[i] <= 'z') || (tag[i] >= 'A' && tag[i] <= 'Z') ||
		     (tag[i] >= '0' && tag[i] <= '9') || strchr("_.-", tag[i]);
	if (ok)
		return 0;
	return nub_error_set(
	        err, NUB_EINVAL,
	        "OCI tag '%s': 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
	        tag ? tag : "");
}

static int write_index(const char *dir, const char *tag, const struct digest *manifest,
                       size_t manifest_len, struct nub_error *err)
{
	char path[4200], *kept = NULL, *index;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	int rc = other_manifests(dir, tag, &kept, err);
	size_t cap;

	if (rc) {
		free(kept);
		return rc;
	}
	cap = strlen(kept) + 512;
	index = malloc(cap);
	if (!index) {
		free(kept);
		return nub_error_set(err, NUB_ENOMEM, "out of memory");
	}
	snprintf(index, cap,
	         "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	         "\"manifests\":[%s%s{\"mediaType\":\"" MANIFEST_TYPE "\",\"digest\":\"sha256:%s\","
	         "\"size\":%zu,\"annotations\":{\"" REF_NAME "\":\"%s\"}}]}",
	         kept, kept[0] ? "," : "", manifest->hex, manifest_len, tag);
	free(kept);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	rc = write_whole(path, layout, sizeof(layout) - 1, err);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	if (!rc)
		rc = write_whole(path, index, strlen(index), err);
	free(index);
	return rc;
}

int nub_snapshot_save_oci(const struct nub_snapshot *snap, const char *dir, const char *tag,
                          struct nub_error *err)
{
	struct digest layer, config, manifest;
	uint8_t *bytes = NULL;
	char cfg[256], man[1024];
	size_t len = 0;
	int rc;

	if (!snap || !dir)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_save_oci: NULL argument");
	if (sodium_init() < 0)
		return nub_error_set(err, NUB_ESYS, "libsodium failed to initialise");
	rc = check_tag(tag, err);
	if (!rc)
		rc = make_dirs(dir, err);
	if (!rc)
		rc = nub_snapshot_encode(snap, &bytes, &len, err);
	if (!rc)
		rc = put_blob(dir, bytes, len, &layer, err);
	free(bytes);
	if (rc)
		return rc;
	int cn = snprintf(cfg, sizeof(cfg), "{\"format\":%u,\"generation\":%llu,\"memory\":%llu}",
	                  SNAPFILE_VERSION, (unsigned long long)snap->generation,
	                  (unsigned long long)snap->visible_size);
	rc = put_blob(dir, cfg, (size_t)cn, &config, err);
	if (rc)
		return rc;
	int mn = snprintf(man, sizeof(man),
	                  "{\"schemaVersion\":2,\"mediaType\":\"" MANIFEST_TYPE "\","
	                  "\"config\":{\"mediaType\":\"" CONFIG_TYPE "\",\"digest\":\"sha256:%s\","
	                  "\"size\":%d},\"layers\":[{\"mediaType\":\"" NUB_OCI_LAYER_TYPE "\","
	                  "\"digest\":\"sha256:%s\",\"size\":%zu}]}",
	                  config.hex, cn, layer.hex, len);
	rc = put_blob(dir, man, (size_t)mn, &manifest, err);
	return rc ? rc : write_index(dir, tag, &manifest, (size_t)mn, err);
}

/* ---- loading ---- */

/* A descriptor's digest ("sha256:" + 64 lowercase hex) and size. */
static int descriptor(const char *text, const struct nub_json_tok *tok, uint32_t d,
                      struct digest *out, uint64_t *size)
{
	char s[80];
	uint32_t dig = nub_json_member(text, tok, d, "digest");
	uint32_t sz = nub_json_member(text, tok, d, "size");

	if (!dig || !sz || nub_json_string(text, tok, dig, s, sizeof(s)) ||
	    nub_json_u64(text, tok, sz, size) || strncmp(s, "sha256:", 7) || strlen(s) != 7 + 64)
		return -1;
	for (size_t i = 7; i < 7 + 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	memcpy(out->hex, s + 7, 65);
	return 0;
}

/* A blob, checked against its digest and size. */
static int get_blob(const char *dir, const struct digest *d, uint64_t size, uint8_t **bytes,
                    size_t *len, struct nub_error *err)
{
	char path[4200];
	struct digest got;
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, d->hex);
	/* A blob of another size is refused before it is read (or allocated). */
	if (!stat(path, &st) && (uint64_t)st.st_size != size)
		return nub_error_set(err, NUB_ECORRUPT,
		                     "%s: %lld bytes, the layout says %llu bytes", path,
		                     (long long)st.st_size, (unsigned long long)size);
	rc = nub_snapshot_read_file(path, bytes, len, err);
	if (rc)
		return rc;
	digest_of(*bytes, *len, &got);
	if (*len != size || strcmp(got.hex, d->hex)) {
		free(*bytes);
		*bytes = NULL;
		return nub_error_set(
		        err, NUB_ECORRUPT,
		        "%s: %zu bytes of digest sha256:%.12s..., the layout says %llu "
		        "bytes of sha256:%.12s...",
		        path, *len, got.hex, (unsigned long long)size, d->hex);
	}
	return 0;
}

/* index.json -> the manifest descriptor tagged `tag`. */
static int find_manifest(const char *dir, const char *tag, struct digest *d, uint64_t *size,
                         struct nub_json_tok *tok, struct nub_error *err)
{
	char path[4200], *text = NULL;
	uint32_t arr = 0;
	int rc, found = 0;

	snprintf(path, sizeof(path), "%s/index.json", dir);
	rc = read_index(path, &text, tok, &arr, err);
	for (uint32_t i = 0; !rc && i < tok[arr].size && !found; i++) {
		uint32_t m = nub_json_item(tok, arr, i);
		if (!tagged(text, tok, m, tag))
			continue;
		found = 1;
		if (descriptor(text, tok, m, d, size))
			rc = nub_error_set(err, NUB_ECORRUPT, "%s: tag '%s': malformed descriptor",
			                   path, tag);
	}
	if (!rc && !found)
		rc = nub_error_set(err, NUB_ENOTFOUND, "%s: no tag '%s'", path, tag);
	free(text);
	return rc;
}

/* The manifest -> the snapshot layer's descriptor. */
static int find_layer(const char *dir, const uint8_t *man, size_t len, struct digest *d,
                      uint64_t *size, struct nub_json_tok *tok, struct nub_error *err)
{
	char why[128];
	uint32_t layers = 0;

	if (parse_array_member((const char *)man, len, tok, "layers", &layers, why, sizeof(why)))
		return nub_error_set(err, NUB_ECORRUPT, "%s: manifest sha256:%.12s...: %s", dir,
		                     d->hex, why);
	for (uint32_t i = 0; i < tok[layers].size; i++) {
		uint32_t l = nub_json_item(tok, layers, i);
		uint32_t mt = nub_json_member((const char *)man, tok, l, "mediaType");
		if (!mt || !nub_json_string_is((const char *)man, tok, mt, NUB_OCI_LAYER_TYPE))
			continue;
		if (descriptor((const char *)man, tok, l, d, size))
			return nub_error_set(err, NUB_ECORRUPT,
			                     "%s: snapshot layer: malformed "
			                     "descriptor",
			                     dir);
		return 0;
	}
	return nub_error_set(err, NUB_ENOTFOUND,
	                     "%s: the manifest has no layer of type " NUB_OCI_LAYER_TYPE
	                     " (not a nub snapshot of this format)",
	                     dir);
}

int nub_snapshot_load_oci(const char *dir, const char *tag, struct nub_snapshot **out,
                          struct nub_error *err)
{
	struct nub_json_tok *tok;
	struct digest d;
	uint64_t size = 0;
	uint8_t *man = NULL, *bytes = NULL;
	size_t mlen = 0, len = 0;
	char name[4300];
	int rc;

	if (!dir || !tag || !out)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_load_oci: NULL argument");
	if (sodium_init() < 0)
		return nub_error_set(err, NUB_ESYS, "libsodium failed to initialise");
	tok = malloc(TOKENS_MAX * sizeof(*tok));
	if (!tok)
		return nub_error_set(err, NUB_ENOMEM, "out of memory");
	rc = find_manifest(dir, tag, &d, &size, tok, err);
	if (!rc && size > JSON_MAX)
		rc = nub_error_set(err, NUB_ECORRUPT, "%s: tag '%s': a manifest of %llu bytes", dir,
		                   tag, (unsigned long long)size);
	if (!rc)
		rc = get_blob(dir, &d, size, &man, &mlen, err);
	if (!rc)
		rc = find_layer(dir, man, mlen, &d, &size, tok, err);
	if (!rc)
		rc = get_blob(dir, &d, size, &bytes, &len, err);
	snprintf(name, sizeof(name), "%s:%s", dir, tag);
	if (!rc)
		rc = nub_snapshot_load_bytes(bytes, len, name, out, err);
	free(bytes);
	free(man);
	free(tok);
	return rc;
}
