/* SPDX-License-Identifier: MIT */
#include "native_rt.h"

#include <stdlib.h>
#include <string.h>

#include <nub/error.h>

#include "native.h"

#define PAGE NUB_PAGE_SIZE

static uint64_t read_u64(nub_gva_t gva)
{
	uint64_t v;

	mock_native_read(gva, &v, sizeof(v));
	return v;
}

static void write_u64(nub_gva_t gva, uint64_t v)
{
	mock_native_write(gva, &v, sizeof(v));
}

static nub_gva_t scratch_top(const struct mock_native_rt *rt)
{
	return rt->peb.scratch_gva + rt->peb.scratch_size;
}

/* ---- aborts ---- */

/* Report through the abort port. A fault while reporting (the guest broke
 * its own buffers or tables) ends like a double fault without a handler on
 * hardware: the VM shuts down. */
static _Noreturn void report(struct mock_native_rt *rt, uint32_t code, const void *a, uint32_t alen,
                             const void *b, uint32_t blen)
{
	if (rt->reporting || !rt->peb_ok)
		mock_native_shutdown();
	rt->reporting = 1;
	mock_native_rt_push(rt, 1, a, alen, b, blen);
	for (;;)
		mock_native_doorbell(NUB_DOORBELL_ABORT, code);
}

_Noreturn void mock_native_rt_abort(struct mock_native_rt *rt, uint32_t code, const char *msg)
{
	struct nub_abort_msg am = {.code = code, .len = (uint32_t)strlen(msg)};

	report(rt, code, &am, sizeof(am), msg, am.len);
}

/* ---- buffers (guest side of core/gbuf.c) ---- */

static void buffer_of(const struct mock_native_rt *rt, int output, nub_gva_t *base, uint64_t *size)
{
	*base = output ? rt->peb.output_gva : rt->peb.input_gva;
	*size = output ? rt->peb.output_size : rt->peb.input_size;
}

void mock_native_rt_push(struct mock_native_rt *rt, int output, const void *a, uint32_t alen,
                         const void *b, uint32_t blen)
{
	nub_gva_t base;
	uint64_t size, sp = 0;

	buffer_of(rt, output, &base, &size);
	sp = read_u64(base);
	if (sp < NUB_BUF_HEADER || sp > size || size - sp < (uint64_t)alen + blen + 8)
		mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "buffer full or corrupt");
	mock_native_write(base + sp, a, alen);
	if (blen)
		mock_native_write(base + sp + alen, b, blen);
	write_u64(base + sp + alen + blen, sp);
	write_u64(base, sp + alen + blen + 8);
}

uint32_t mock_native_rt_pop(struct mock_native_rt *rt, int output, void *dst, uint32_t cap)
{
	nub_gva_t base;
	uint64_t size, sp, back, len;

	buffer_of(rt, output, &base, &size);
	sp = read_u64(base);
	if (sp <= NUB_BUF_HEADER || sp > size)
		mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "buffer empty or corrupt");
	back = read_u64(base + sp - 8);
	if (back < NUB_BUF_HEADER || back > sp - 8 || sp - 8 - back > cap)
		mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "corrupt buffer back-pointer");
	len = sp - 8 - back;
	mock_native_read(base + back, dst, len);
	write_u64(base, back);
	return (uint32_t)len;
}

/* ---- services for guest code ---- */

int32_t mock_native_rt_call_host(struct mock_native_rt *rt, uint32_t fn_id, const void *in,
                                 uint32_t len, void *out, uint32_t cap, uint32_t *out_len)
{
	struct nub_request req = {.fn_id = fn_id, .len = len};
	struct nub_response resp;
	uint32_t n;

	mock_native_rt_push(rt, 1, &req, sizeof(req), in, len);
	mock_native_doorbell(NUB_DOORBELL_CALL_HOST, fn_id);
	n = mock_native_rt_pop(rt, 0, rt->in, rt->in_cap);
	if (n < sizeof(resp))
		mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "short host response");
	memcpy(&resp, rt->in, sizeof(resp));
	if (resp.len != n - sizeof(resp) || resp.len > cap)
		mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "bad host response length");
	memcpy(out, rt->in + sizeof(resp), resp.len);
	*out_len = resp.len;
	return resp.status;
}

void mock_native_rt_log(struct mock_native_rt *rt, uint32_t level, const char *msg, uint32_t len)
{
	struct nub_log_msg lm = {.level = level, .len = len};

	mock_native_rt_push(rt, 1, &lm, sizeof(lm), msg, len);
	mock_native_doorbell(NUB_DOORBELL_LOG, level);
}

uint64_t mock_native_rt_counter(struct mock_native_rt *rt)
{
	return read_u64(scratch_top(rt) - NUB_SCRATCH_TOP_GUEST_COUNTER);
}

int mock_native_rt_register(struct mock_native_rt *rt, uint32_t id, const char *name,
                            mock_native_fn fn)
{
	for (unsigned i = 0; i < rt->nfns; i++) {
		if (rt->fns[i].id == id) {
			rt->fns[i].fn = fn;
			rt->fns[i].name = name;
			return 0;
		}
	}
	if (rt->nfns == MOCK_NATIVE_MAX_FNS)
		return NUB_EFULL;
	rt->fns[rt->nfns].id = id;
	rt->fns[rt->nfns].name = name;
	rt->fns[rt->nfns++].fn = fn;
	return 0;
}

/* As the real runtime: one name entry per function before the init halt. */
static void publish_names(struct mock_native_rt *rt)
{
	for (unsigned i = 0; i < rt->nfns; i++) {
		struct nub_fn_entry e = {rt->fns[i].id, (uint32_t)strlen(rt->fns[i].name)};
		if (e.name_len && e.name_len <= NUB_FN_NAME_MAX)
			mock_native_rt_push(rt, 1, &e, sizeof(e), rt->fns[i].name, e.name_len);
	}
}

/* ---- init and dispatch ---- */

/* Registration lives in host memory, so it is redone once per VM: a VM
 * created from a captured snapshot never runs init but still needs it. */
static void ensure_setup(struct mock_native_rt *rt, nub_gva_t peb, void (*reg)(void))
{
	if (rt->registered)
		return;
	mock_native_read(peb, &rt->peb, sizeof(rt->peb));
	if (rt->peb.magic != NUB_PEB_MAGIC || rt->peb.abi_version != NUB_GUEST_ABI_VERSION ||
	    rt->peb.input_size > (1u << 30) || rt->peb.output_size > (1u << 30))
		mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "bad PEB");
	rt->peb_ok = 1;
	rt->in_cap = (uint32_t)rt->peb.input_size;
	rt->out_cap = (uint32_t)rt->peb.output_size;
	rt->in = malloc(rt->in_cap);
	rt->out = malloc(rt->out_cap);
	if (!rt->in || !rt->out)
		mock_native_rt_abort(rt, NUB_ABORT_OOM, "native runtime out of host memory");
	rt->registered = 1;
	reg();
}

void mock_native_rt_init(struct mock_native_rt *rt, nub_gva_t peb, void (*reg)(void))
{
	uint64_t marker = NUB_PEB_MAGIC;

	ensure_setup(rt, peb, reg);
	rt->reporting = 0;
	/* What the real runtime's init leaves in snapshot memory (its heap
	 * header): one CoW page, captured into the post-init snapshot. */
	if (rt->peb.heap_size >= 8)
		mock_native_write(rt->peb.heap_gva, &marker, sizeof(marker));
	publish_names(rt);
	mock_native_doorbell(NUB_DOORBELL_INIT_DONE, MOCK_NATIVE_DISPATCH_RIP);
}

void mock_native_rt_dispatch(struct mock_native_rt *rt, nub_gva_t peb, void (*reg)(void))
{
	struct nub_request req;
	struct nub_response resp = {0};
	uint32_t n, out_len = 0;
	mock_native_fn fn = NULL;

	ensure_setup(rt, peb, reg);
	rt->reporting = 0;
	n = mock_native_rt_pop(rt, 0, rt->in, rt->in_cap);
	if (n < sizeof(req))
		mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "short request");
	memcpy(&req, rt->in, sizeof(req));
	if (req.len != n - sizeof(req))
		mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "request length mismatch");
	for (unsigned i = 0; i < rt->nfns; i++)
		if (rt->fns[i].id == req.fn_id)
			fn = rt->fns[i].fn;
	if (!fn) {
		resp.status = NUB_ENOTFOUND;
	} else {
		uint32_t cap = rt->out_cap - sizeof(resp) - 8 - NUB_BUF_HEADER;
		resp.status = fn(rt->in + sizeof(req), req.len, rt->out, cap, &out_len);
		if (out_len > cap)
			mock_native_rt_abort(rt, NUB_ABORT_BAD_REQUEST, "result too large");
	}
	resp.len = out_len;
	mock_native_rt_push(rt, 1, &resp, sizeof(resp), rt->out, out_len);
	mock_native_doorbell(NUB_DOORBELL_CALL_DONE, 0);
}

void mock_native_rt_free(struct mock_native_rt *rt)
{
	free(rt->in);
	free(rt->out);
	rt->in = rt->out = NULL;
}
