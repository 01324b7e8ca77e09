/* SPDX-License-Identifier: MIT */
/*
 * The snapshot file format, shared by saving (snapshot_save.c) and loading
 * (snapshot_load.c). The file is written and read field by
 * field, little-endian, with explicit sizes (format 8):
 *
 *   header   magic "NUBSNAP\0", u32 format, u32 header bytes (80),
 *            u64 visible_size, pt_size, entry_gva, dispatch_gva,
 *            generation, family, syscall_gva, fs_base
 *   layout   u32 count (NUB_SNAPFILE_LAYOUT_WORDS), then that many u64: the
 *            fields of struct nub_layout in declaration order
 *   names    u32 count, then per name: u32 id, u32 length (1..63), bytes
 *   hot      u32 count (<= NUB_HOT_MAX), then that many u64 GVAs
 *   hostfns  u32 count (<= NUB_SNAPSHOT_HOST_FNS; 0 before init), then that
 *            many u32 ids, strictly ascending: the host functions a sandbox
 *            of it must register
 *   symbols  u32 count (<= NUB_SYMBOLS_MAX), then per function of the ELF:
 *            u64 image offset (ascending), u64 size, u32 name length
 *            (1..63), the name (printable ASCII); for messages only
 *   memory   sparse: u64 words (= ceil(pages / 64), pages = (visible_size +
 *            pt_size) / 4096), that many u64 of bitmap (bit i set: page i
 *            is stored; no bit at or above `pages`), then each stored page,
 *            4096 bytes, in page order. Pages not stored are zero: a file
 *            costs what the guest used, not what was configured.
 *   hash     16 bytes: XXH3-128 of every byte before it
 *
 * A keyed file (nub_snapshot_save_keyed) is the same but for its magic,
 * "NUBSNAPK", and its last 32 bytes: instead of the hash, a MAC of every
 * byte before it (keyed BLAKE2b-256, libsodium's crypto_generichash,
 * personalised "nub snapshot mac"). The keyed loader checks the MAC, in
 * constant time, before it reads anything else; each loader refuses the
 * other kind of file by name.
 *
 * Every byte is covered by the trailing hash or MAC, so a flipped byte
 * anywhere is refused; independently, every field is validated against the
 * rest before any memory is touched: the layout must be exactly what
 * nub_layout_compute makes of its own sizes (so no edited offset can point
 * the host outside a region), sizes must fit the file and the
 * guest-physical space, addresses must lie where the layout says. What the
 * host owns is never taken from the file: the PEB, GDT/TSS/IDT and stub
 * pages are rebuilt from the layout (the file's bytes for them are
 * skipped), and the page tables are walked as data, every leaf checked
 * against the rules nub builds tables by, and built afresh from the
 * mappings that pass (snapshot_tables.c). The hash detects corruption; it
 * is not a signature: only the MAC shows the file was made by a holder of
 * the key (docs/security.md).
 */
#ifndef NUB_CORE_IMAGE_SNAPSHOT_FILE_H
#define NUB_CORE_IMAGE_SNAPSHOT_FILE_H

#include <sodium.h>

#include "image/snapshot.h"

#define SNAPFILE_MAGIC       "NUBSNAP\0"
#define SNAPFILE_MAGIC_KEYED "NUBSNAPK"
#define SNAPFILE_VERSION     8u /* 6: the ELF's function symbols; 7: guest ABI 3; 8: entry stub */
/* The OCI layer media type of a snapshot file (oci.c): bumped with the
 * format, so a layout of another format is refused by type. */
#define NUB_OCI_LAYER_TYPE "application/vnd.nub.snapshot.v8"
#define SNAPFILE_HEADER    80u
#define SNAPFILE_HASH      16u
#define SNAPFILE_LAYOUT_N  (sizeof(struct nub_layout) / sizeof(uint64_t))
#define PAGE               NUB_PAGE_SIZE
/* Refuse absurd sizes before allocating: a snapshot larger than this is
 * not something nub builds. */
#define SNAPFILE_MAX_MEM (64ull << 30)

_Static_assert(sizeof(struct nub_layout) % sizeof(uint64_t) == 0, "layout is u64 fields");
_Static_assert(NUB_SNAPSHOT_KEY_MIN == crypto_generichash_blake2b_KEYBYTES_MIN, "key sizes");
_Static_assert(NUB_SNAPSHOT_KEY_MAX == crypto_generichash_blake2b_KEYBYTES_MAX, "key sizes");
_Static_assert(NUB_SNAPSHOT_MAC_SIZE == crypto_generichash_blake2b_BYTES, "MAC size");

/* A key's length checked (NUB_EINVAL naming `path`) and libsodium ready. */
int nub_snapshot_check_key(const void *key, size_t key_len, const char *path,
                           struct nub_error *err);

#endif
