/* SPDX-License-Identifier: MIT */
/*
 * The native guest runtime: what guest/lib does inside a real VM (init,
 * dispatch, buffers, host calls, logs, aborts), done through
 * mock_native_read/write on guest memory.
 */
#ifndef NUB_MOCK_NATIVE_RT_H
#define NUB_MOCK_NATIVE_RT_H

#include <stdint.h>

#include <nub/guest_abi.h>
#include <nub/vmem.h>

/* A guest function, as registered by a guest program. */
typedef int32_t (*mock_native_fn)(const uint8_t *in, uint32_t in_len, uint8_t *out,
                                  uint32_t out_cap, uint32_t *out_len);

#define MOCK_NATIVE_MAX_FNS 64

struct mock_native_rt {
	struct nub_peb peb;
	int registered;
	int peb_ok;    /* rt->peb was read and validated */
	int reporting; /* inside an abort/fault report */
	struct {
		uint32_t id;
		const char *name;
		mock_native_fn fn;
	} fns[MOCK_NATIVE_MAX_FNS];
	unsigned nfns;
	uint8_t *in, *out; /* host copies of request / response bytes */
	uint32_t in_cap, out_cap;
};

struct mock_native_rt *mock_native_rt_current(void);

void mock_native_rt_init(struct mock_native_rt *rt, nub_gva_t peb, void (*reg)(void));
void mock_native_rt_dispatch(struct mock_native_rt *rt, nub_gva_t peb, void (*reg)(void));
_Noreturn void mock_native_rt_abort(struct mock_native_rt *rt, uint32_t code, const char *msg);
void mock_native_rt_free(struct mock_native_rt *rt);

/* Register a function (native builds of nub_register). */
int mock_native_rt_register(struct mock_native_rt *rt, uint32_t id, const char *name,
                            mock_native_fn fn);
/* Guest-side buffer operations on the PEB's input/output buffers. */
void mock_native_rt_push(struct mock_native_rt *rt, int output, const void *a, uint32_t alen,
                         const void *b, uint32_t blen);
uint32_t mock_native_rt_pop(struct mock_native_rt *rt, int output, void *dst, uint32_t cap);
/* Host call / log from native guest code. */
int32_t mock_native_rt_call_host(struct mock_native_rt *rt, uint32_t fn_id, const void *in,
                                 uint32_t len, void *out, uint32_t cap, uint32_t *out_len);
void mock_native_rt_log(struct mock_native_rt *rt, uint32_t level, const char *msg, uint32_t len);
uint64_t mock_native_rt_counter(struct mock_native_rt *rt);

/* Memory helpers native.c provides to the runtime. */
void mock_native_translate(nub_gva_t gva, struct nub_vmem_mapping *m);
_Noreturn void mock_native_shutdown(void);

#endif
