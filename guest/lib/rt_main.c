/* SPDX-License-Identifier: MIT */
/* Initialisation, call dispatch, host calls, logging, aborts: what both
 * flavours of the runtime share (bare: rt_bare.c; C library: rt_libc.c). */
#include <nubguest.h>

#include "format.h"
#include "nub_string.h"
#include "rt.h"

static struct rt_fn rt_fns[NUB_GUEST_MAX_FNS] RT_HOT;
/* The host's seed as the runtime last saw it (guest_abi.h:
 * NUB_SCRATCH_TOP_SEED), and the program's hooks to run when it changes. */
static uint8_t rt_seed[NUB_RESTORE_SEED_SIZE] RT_HOT;
static nub_restore_hook rt_hooks[NUB_GUEST_MAX_RESTORE_HOOKS] RT_HOT;
static uint32_t rt_nhooks RT_HOT;
static uint32_t rt_nfns RT_HOT;
/* The function the request being served called (rt_current_fn). */
static const struct rt_fn *rt_call_fn RT_HOT;
/* Input-buffer offset above the request being served: host-call responses
 * are pushed above it, and the request itself must never be taken for one. */
static uint64_t rt_call_floor RT_HOT;

_Static_assert(RT_NOTE_TYPE_ABI == NUB_NOTE_TYPE_ABI, "ELF note type in rt_entry.S");
_Static_assert(RT_GUEST_ABI_VERSION == NUB_GUEST_ABI_VERSION, "ELF note version in rt_entry.S");
_Static_assert(RT_NOTE_TYPE_HOT == NUB_NOTE_TYPE_HOT, "hot note type in rt_entry.S");

_Noreturn void rt_finish(enum nub_doorbell kind, uint64_t value)
{
	rt_doorbell(kind, value);
	/* The host never resumes after these; if it did, stop here. */
	for (;;)
		__builtin_trap();
}

_Noreturn void rt_abort(uint32_t code, const void *payload, uint32_t len)
{
	struct rt_buf out = rt_buf_output(rt_peb());
	uint64_t room = rt_buf_room(&out);
	struct nub_abort_msg hdr = {code, len};
	if (room >= sizeof(hdr)) {
		if (hdr.len > room - sizeof(hdr))
			hdr.len = (uint32_t)(room - sizeof(hdr));
		rt_buf_push(&out, &hdr, sizeof(hdr), payload, hdr.len);
	}
	rt_finish(NUB_DOORBELL_ABORT, code);
}

_Noreturn void nub_abort(uint32_t code, const char *msg)
{
	if (!msg)
		msg = "";
	size_t n = strlen(msg);
	rt_abort(code, msg, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
}

_Noreturn void nub_abortf(uint32_t code, const char *fmt, ...)
{
	char text[NUB_LOG_MAX];
	va_list ap;
	va_start(ap, fmt);
	nub_vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	nub_abort(code, text);
}

int nub_log(uint32_t level, const char *fmt, ...)
{
	char text[NUB_LOG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = nub_vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	struct nub_log_msg hdr = {level, n < (int)sizeof(text) ? (uint32_t)n : sizeof(text) - 1};
	struct rt_buf out = rt_buf_output(rt_peb());
	int rc = rt_buf_push(&out, &hdr, sizeof(hdr), text, hdr.len);
	if (rc)
		return rc;
	rt_doorbell(NUB_DOORBELL_LOG, level);
	return 0;
}

const struct nub_peb *nub_peb(void)
{
	return rt_peb();
}

uint64_t nub_guest_counter(void)
{
	const struct nub_peb *peb = rt_peb();
	return *(volatile const uint64_t *)(peb->scratch_gva + peb->scratch_size -
	                                    NUB_SCRATCH_TOP_GUEST_COUNTER);
}

int nub_guest_mapping(uint32_t tag, struct nub_mapping_info *out)
{
	const struct nub_peb *peb = rt_peb();
	const volatile uint8_t *t =
	        (const volatile uint8_t *)(peb->scratch_gva + peb->scratch_size -
	                                   NUB_SCRATCH_TOP_MAPPINGS);
	uint32_t n = *(const volatile uint32_t *)t;

	for (uint32_t i = 0; i < n && i < NUB_MAPPINGS_MAX; i++) {
		struct nub_mapping_info m;
		memcpy(&m, (const void *)(t + 8 + i * sizeof(m)), sizeof(m));
		if (m.tag == tag) {
			*out = m;
			return 0;
		}
	}
	return NUB_ENOTFOUND;
}

int nub_register(uint32_t id, const char *name, nub_guest_fn fn)
{
	return rt_register(id, name, NULL, NULL, fn);
}

int rt_register(uint32_t id, const char *name, const char *sig, nub_typed_fn typed, nub_guest_fn fn)
{
	if (!fn)
		return NUB_EINVAL;
	for (uint32_t i = 0; i < rt_nfns; i++) {
		if (rt_fns[i].id == id)
			return NUB_EINVAL;
	}
	if (rt_nfns == NUB_GUEST_MAX_FNS)
		return NUB_EFULL;
	rt_fns[rt_nfns++] = (struct rt_fn){id, name ? name : "", sig, typed, fn};
	return 0;
}

int nub_on_restore(nub_restore_hook fn)
{
	if (!fn)
		return NUB_EINVAL;
	if (rt_nhooks == NUB_GUEST_MAX_RESTORE_HOOKS)
		return NUB_EFULL;
	rt_hooks[rt_nhooks++] = fn;
	return 0;
}

void nub_restore_seed(uint8_t seed[NUB_RESTORE_SEED_SIZE])
{
	memcpy(seed, rt_seed, NUB_RESTORE_SEED_SIZE);
}

/* Before a call: a seed other than the last one seen means this is the
 * first call after a restore, or the first of a new sandbox. */
static void check_seed(const struct nub_peb *peb)
{
	const volatile uint8_t *now =
	        (const volatile uint8_t *)(peb->scratch_gva + peb->scratch_size -
	                                   NUB_SCRATCH_TOP_SEED);
	int same = 1;

	for (uint32_t i = 0; i < NUB_RESTORE_SEED_SIZE; i++) {
		if (rt_seed[i] != now[i])
			same = 0;
		rt_seed[i] = now[i];
	}
	if (same)
		return;
	rt_reseed(rt_seed);
	for (uint32_t i = 0; i < rt_nhooks; i++)
		rt_hooks[i](rt_seed);
}

const struct rt_fn *rt_current_fn(void)
{
	return rt_call_fn;
}

static const struct rt_fn *fn_find(uint32_t id)
{
	for (uint32_t i = 0; i < rt_nfns; i++) {
		if (rt_fns[i].id == id)
			return &rt_fns[i];
	}
	return NULL;
}

int nub_call_host(uint32_t fn_id, const void *in, uint32_t len, void *out, uint32_t cap,
                  uint32_t *out_len)
{
	if (out_len)
		*out_len = 0;
	if ((len && !in) || (cap && !out))
		return NUB_EINVAL;
	const struct nub_peb *peb = rt_peb();
	struct rt_buf ob = rt_buf_output(peb), ib = rt_buf_input(peb);
	struct nub_request req = {fn_id, 0, len};
	int rc = rt_buf_push(&ob, &req, sizeof(req), in, len);
	if (rc)
		return rc;
	rt_doorbell(NUB_DOORBELL_CALL_HOST, fn_id);
	const uint8_t *msg;
	uint64_t mlen, below;
	if (rt_buf_peek(&ib, rt_call_floor, &msg, &mlen, &below))
		return NUB_ECORRUPT;
	rt_buf_set_sp(&ib, below);
	struct nub_response resp;
	if (mlen < sizeof(resp))
		return NUB_ECORRUPT;
	memcpy(&resp, msg, sizeof(resp));
	if (resp.len > mlen - sizeof(resp))
		return NUB_ECORRUPT;
	memcpy(out, msg + sizeof(resp), resp.len < cap ? resp.len : cap);
	if (out_len)
		*out_len = resp.len;
	if (resp.status)
		return resp.status;
	return resp.len > cap ? NUB_EFULL : 0;
}

/* A ':' would read as a signature's start (guest_abi.h). */
static int name_has_colon(const char *s)
{
	for (; *s; s++)
		if (*s == ':')
			return 1;
	return 0;
}

/* Tell the host the names of the registered functions (guest_abi.h), a
 * typed one's with its signature. A name that is empty, too long or holds
 * a ':', or a full buffer, just leaves that function callable by id only. */
static void publish_names(const struct nub_peb *peb)
{
	struct rt_buf ob = rt_buf_output(peb);

	for (unsigned i = 0; i < rt_nfns; i++) {
		char text[NUB_FN_NAME_MAX + 1];
		size_t n = strlen(rt_fns[i].name), s = rt_fns[i].sig ? strlen(rt_fns[i].sig) : 0;
		if (n == 0 || n > NUB_FN_NAME_MAX || name_has_colon(rt_fns[i].name))
			continue;
		memcpy(text, rt_fns[i].name, n);
		if (s && n + 1 + s <= NUB_FN_NAME_MAX) { /* "name:sig" */
			text[n] = ':';
			memcpy(text + n + 1, rt_fns[i].sig, s);
			n += 1 + s;
		}
		struct nub_fn_entry e = {rt_fns[i].id, (uint32_t)n};
		if (rt_buf_push(&ob, &e, sizeof(e), text, e.name_len))
			break;
	}
}

_Noreturn void nub_rt_init(const struct nub_peb *peb)
{
	rt_heap_setup(peb);
	rt_start(peb); /* the flavour's start-up, then rt_init_finish() */
}

_Noreturn void rt_init_finish(const struct nub_peb *peb)
{
	nub_guest_main();
	rt_after_call();
	publish_names(peb);
	rt_finish(NUB_DOORBELL_INIT_DONE, (uint64_t)nub_rt_dispatch_entry);
}

/* Result area: as much of the free output buffer as the heap can give. */
static uint8_t *out_area(const struct rt_buf *ob, uint32_t *cap)
{
	uint64_t room = rt_buf_room(ob);
	uint64_t want = room > sizeof(struct nub_response) ? room - sizeof(struct nub_response) : 0;
	if (want > UINT32_MAX)
		want = UINT32_MAX;
	for (; want; want /= 2) {
		uint8_t *p = rt_area_alloc(want);
		if (p) {
			*cap = (uint32_t)want;
			return p;
		}
	}
	*cap = 0;
	return NULL;
}

_Noreturn static void bad_request(const char *what, uint64_t a, uint64_t b)
{
	nub_abortf(NUB_ABORT_BAD_REQUEST, "input buffer: %s (%llu, %llu)", what,
	           (unsigned long long)a, (unsigned long long)b);
}

_Noreturn void nub_rt_dispatch(const struct nub_peb *peb)
{
	struct rt_buf ib = rt_buf_input(peb), ob = rt_buf_output(peb);
	const uint8_t *msg;
	uint64_t mlen, below, top;
	int rc = rt_buf_peek(&ib, 0, &msg, &mlen, &below);
	if (rc)
		bad_request(rc == NUB_EEMPTY ? "no request" : "corrupt stack pointer", ib.size, 0);
	struct nub_request req;
	if (mlen < sizeof(req))
		bad_request("message shorter than a request header", mlen, sizeof(req));
	memcpy(&req, msg, sizeof(req));
	if (req.len > mlen - sizeof(req))
		bad_request("request length exceeds its message", req.len, mlen);
	rt_buf_sp(&ib, &top);
	check_seed(peb);

	int32_t status;
	uint32_t cap = 0, out_len = 0;
	uint8_t *area = NULL, none[1];
	const struct rt_fn *f = fn_find(req.fn_id);
	if (!f) {
		status = NUB_ENOTFOUND;
	} else if (req.flags) {
		status = NUB_EINVAL;
	} else {
		area = out_area(&ob, &cap);
		rt_call_floor = top;
		rt_call_fn = f;
		status = f->fn(msg + sizeof(req), req.len, area ? area : none, cap, &out_len);
		rt_call_floor = 0;
		rt_after_call();
		if (out_len > cap) {
			status = NUB_ERANGE;
			out_len = 0;
		}
	}
	rt_buf_set_sp(&ib, below);
	struct nub_response resp = {status, out_len};
	rc = rt_buf_push(&ob, &resp, sizeof(resp), area, out_len);
	if (rc)
		nub_abortf(NUB_ABORT_CORRUPT, "output buffer: cannot push the response (%d)", rc);
	if (area && rt_area_free(area))
		nub_abort(NUB_ABORT_CORRUPT, "heap: result area corrupted");
	rt_finish(NUB_DOORBELL_CALL_DONE, 0);
}
