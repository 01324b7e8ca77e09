/* SPDX-License-Identifier: MIT */
/*
 * The gdb server (gdb.h): one listening socket on localhost, one
 * connection, and a command loop run at each stop of the guest. Commands
 * are parsed first (gdb_cmd.c), then served against the stop: registers
 * from a struct nub_stop written back when gdb resumes, memory through the
 * guest's tables (memory/view.h), breakpoints kept here and written into
 * the guest only while it runs.
 */
#include "debug/gdb.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "debug/gdb_proto.h"
#include "error_internal.h"

#define BP_MAX    64u
#define INT3      0xcc
#define RFLAGS_TF (1ull << 8)

struct bp {
	nub_gva_t gva;
	uint8_t saved; /* the guest's byte while armed */
	int armed;
};

struct nub_gdb {
	int listen_fd, fd;
	uint16_t port;
	int noack;
	int waiting; /* gdb resumed the guest and waits for the next stop */
	uint8_t in[512];
	size_t in_len, in_at;
	struct nub_gdb_framer fr;
	struct bp bp[BP_MAX];
	unsigned nbp;
	char reply[2 * NUB_GDB_PACKET_MAX];
	char wire[2 * NUB_GDB_PACKET_MAX + 8];
};

/* One stop being served. */
struct stop {
	const struct nub_gdb_target *t;
	struct nub_stop st;
	struct nub_fpu fpu_then; /* as captured: a change is written back */
	int signo, swbreak;
};

int nub_gdb_listen(uint16_t port, struct nub_gdb **out, struct nub_error *err)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	struct nub_gdb *g = calloc(1, sizeof(*g));
	int one = 1;

	if (!g)
		return nub_error_set(err, NUB_ENOMEM, "gdb: out of memory");
	g->fd = -1;
	g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g->listen_fd < 0)
		goto fail;
	setsockopt(g->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(g->listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(g->listen_fd, 1) ||
	    getsockname(g->listen_fd, (struct sockaddr *)&a, &alen))
		goto fail;
	g->port = ntohs(a.sin_port);
	*out = g;
	return 0;
fail:
	nub_error_set(err, NUB_ESYS, "gdb: cannot listen on 127.0.0.1:%u: %s", port,
	              strerror(errno));
	nub_gdb_free(g);
	return NUB_ESYS;
}

uint16_t nub_gdb_port(const struct nub_gdb *g)
{
	return g->port;
}

int nub_gdb_attached(const struct nub_gdb *g)
{
	return g && g->fd >= 0;
}

int nub_gdb_serving(const struct nub_gdb *g)
{
	return g && (g->listen_fd >= 0 || g->fd >= 0);
}

int nub_gdb_accept(struct nub_gdb *g, struct nub_error *err)
{
	int one = 1;

	if (g->listen_fd < 0)
		return 0; /* served one already */
	do
		g->fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	while (g->fd < 0 && errno == EINTR);
	if (g->fd < 0)
		return nub_error_set(err, NUB_ESYS, "gdb: accept on 127.0.0.1:%u: %s", g->port,
		                     strerror(errno));
	setsockopt(g->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(g->listen_fd);
	g->listen_fd = -1;
	g->noack = 0;
	nub_gdb_framer_init(&g->fr);
	return 1;
}

/* Breakpoints must be disarmed: none are kept for another debugger. */
static void hang_up(struct nub_gdb *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	g->nbp = 0;
	g->waiting = 0;
}

/* The next byte from gdb; -1 when it went away. */
static int next_byte(struct nub_gdb *g)
{
	ssize_t n;

	if (g->in_at == g->in_len) {
		do
			n = read(g->fd, g->in, sizeof(g->in));
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return -1;
		g->in_len = (size_t)n;
		g->in_at = 0;
	}
	return g->in[g->in_at++];
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Send one packet; in ack mode, again until gdb acks it. -1: gdb gone. */
static int send_packet(struct nub_gdb *g, const char *data, size_t len)
{
	size_t n = nub_gdb_frame(data, len, g->wire, sizeof(g->wire));

	for (int tries = 0; tries < 8; tries++) {
		if (!n || write_all(g->fd, g->wire, n))
			return -1;
		if (g->noack)
			return 0;
		int c;
		while ((c = next_byte(g)) >= 0 && c != '+' && c != '-')
			;
		if (c == '+')
			return 0;
		if (c < 0)
			return -1;
	}
	return -1;
}

static int send_str(struct nub_gdb *g, const char *s)
{
	return send_packet(g, s, strlen(s));
}

/* The next packet's data in g->fr.data; -1 when gdb went away. A ^C
 * while the guest is stopped has nothing to interrupt. */
static int recv_packet(struct nub_gdb *g)
{
	for (;;) {
		int c = next_byte(g);
		if (c < 0)
			return -1;
		switch (nub_gdb_framer_feed(&g->fr, (uint8_t)c)) {
		case NUB_GDB_FRAME_PACKET:
			if (!g->noack && write_all(g->fd, "+", 1))
				return -1;
			return 0;
		case NUB_GDB_FRAME_BAD:
			if (!g->noack && write_all(g->fd, "-", 1))
				return -1;
			break;
		default:
			break;
		}
	}
}

/* ---- breakpoints ---- */

int nub_gdb_is_breakpoint(const struct nub_gdb *g, nub_gva_t gva)
{
	for (unsigned i = 0; g && i < g->nbp; i++)
		if (g->bp[i].gva == gva)
			return 1;
	return 0;
}

void nub_gdb_arm(struct nub_gdb *g, const struct nub_view *v)
{
	const uint8_t int3 = INT3;

	for (unsigned i = 0; g && i < g->nbp; i++) {
		struct bp *b = &g->bp[i];
		if (b->armed || nub_view_read_user(v, b->gva, &b->saved, 1))
			continue;
		b->armed = !nub_view_write_user(v, b->gva, &int3, 1);
	}
}

void nub_gdb_disarm(struct nub_gdb *g, const struct nub_view *v)
{
	for (unsigned i = 0; g && i < g->nbp; i++) {
		struct bp *b = &g->bp[i];
		if (b->armed)
			nub_view_write_user(v, b->gva, &b->saved, 1);
		b->armed = 0;
	}
}

/* Z0: only where the byte can be written back (the sandbox's own page). */
static const char *bp_insert(struct nub_gdb *g, const struct nub_view *v, nub_gva_t gva)
{
	uint8_t byte;

	if (nub_gdb_is_breakpoint(g, gva))
		return "OK";
	if (g->nbp == BP_MAX)
		return "E0c";
	if (nub_view_read_user(v, gva, &byte, 1) || nub_view_write_user(v, gva, &byte, 1))
		return "E0e";
	g->bp[g->nbp++] = (struct bp){.gva = gva};
	return "OK";
}

static const char *bp_remove(struct nub_gdb *g, nub_gva_t gva)
{
	for (unsigned i = 0; i < g->nbp; i++)
		if (g->bp[i].gva == gva) {
			g->bp[i] = g->bp[--g->nbp];
			break;
		}
	return "OK";
}

/* ---- commands ---- */

static size_t stop_reply(const struct stop *s, char *out, size_t cap)
{
	int n = snprintf(out, cap, "T%02xthread:1;%s", s->signo & 0xff,
	                 s->swbreak ? "swbreak:;" : "");
	return n < 0 ? 0 : (size_t)n;
}

static size_t read_regs(const struct stop *s, char *out)
{
	uint8_t v[16];
	size_t at = 0;

	for (unsigned n = 0; n < NUB_GDB_NREGS; n++) {
		size_t size = nub_gdb_reg_get(&s->st, n, v);
		nub_gdb_hex(v, size, out + at);
		at += 2 * size;
	}
	return at;
}

static const char *write_regs(struct stop *s, const struct nub_gdb_cmd *c)
{
	struct nub_stop st = s->st;
	uint8_t v[16];
	size_t at = 0;

	if (c->hex_len != 2 * NUB_GDB_REGS_SIZE)
		return "E01";
	for (unsigned n = 0; n < NUB_GDB_NREGS; n++) {
		size_t size = nub_gdb_reg_get(&st, n, v);
		if (nub_gdb_unhex(c->hex + at, size, v) || nub_gdb_reg_set(&st, n, v))
			return "E01";
		at += 2 * size;
	}
	s->st = st;
	return "OK";
}

static const char *write_reg(struct stop *s, const struct nub_gdb_cmd *c)
{
	uint8_t v[16];
	size_t size = nub_gdb_reg_get(&s->st, c->reg, v);

	if (c->hex_len != 2 * size || nub_gdb_unhex(c->hex, size, v) ||
	    nub_gdb_reg_set(&s->st, c->reg, v))
		return "E01";
	return "OK";
}

/* m: as many bytes as can be read from addr on; E14 when not one. */
static size_t read_mem(const struct stop *s, const struct nub_gdb_cmd *c, char *out)
{
	uint8_t buf[NUB_GDB_PACKET_MAX / 2 - 8];
	uint64_t len = c->len < sizeof(buf) ? c->len : sizeof(buf), n = 0;

	while (n < len) {
		uint64_t at = c->addr + n, in_page = NUB_PAGE_SIZE - (at & (NUB_PAGE_SIZE - 1));
		uint64_t k = len - n < in_page ? len - n : in_page;
		if (at < c->addr || nub_view_read_user(s->t->view, at, buf + n, k))
			break;
		n += k;
	}
	if (!n && len) {
		memcpy(out, "E14", 3);
		return 3;
	}
	nub_gdb_hex(buf, n, out);
	return 2 * n;
}

static const char *write_mem(const struct stop *s, const struct nub_gdb_cmd *c)
{
	uint8_t buf[NUB_GDB_PACKET_MAX / 2];

	if (c->len > sizeof(buf) || nub_gdb_unhex(c->hex, c->len, buf))
		return "E01";
	return nub_view_write_user(s->t->view, c->addr, buf, c->len) ? "E14" : "OK";
}

/* Binary data in a reply: '#', '$', '}' and '*' escaped. */
static size_t escape(const uint8_t *in, size_t n, char *out, size_t cap)
{
	size_t at = 0;

	for (size_t i = 0; i < n && at + 2 <= cap; i++) {
		if (in[i] == '#' || in[i] == '$' || in[i] == '}' || in[i] == '*') {
			out[at++] = '}';
			out[at++] = (char)(in[i] ^ 0x20);
		} else {
			out[at++] = (char)in[i];
		}
	}
	return at;
}

/* qXfer: "m" and a slice of the object, or "l" and its last part. */
static size_t xfer(const struct stop *s, const struct nub_gdb_cmd *c, char *out, size_t cap)
{
	const uint64_t auxv[] = {6, NUB_PAGE_SIZE, 9, s->t->entry_gva, 0,
	                         0}; /* AT_PAGESZ, AT_ENTRY */
	const uint8_t *obj = (const uint8_t *)nub_gdb_target_xml;
	size_t size = strlen(nub_gdb_target_xml);
	uint64_t len = c->len;

	if (c->object == NUB_GDB_XFER_AUXV) {
		obj = (const uint8_t *)auxv;
		size = sizeof(auxv);
	}
	if (c->addr >= size) {
		out[0] = 'l';
		return 1;
	}
	/* Escaping at most doubles a byte: what is sent fits the packet. */
	if (len > (cap - 1) / 2)
		len = (cap - 1) / 2;
	if (len > size - c->addr)
		len = size - c->addr;
	out[0] = c->addr + len == size ? 'l' : 'm';
	return 1 + escape(obj + c->addr, len, out + 1, cap - 1);
}

/* Serve one command; 1 when it resumes the guest (*how set). */
static int serve(struct nub_gdb *g, struct stop *s, const struct nub_gdb_cmd *c,
                 enum nub_gdb_resume *how)
{
	const size_t cap = NUB_GDB_PACKET_MAX;
	char *r = g->reply;
	const char *text = "";
	size_t n = SIZE_MAX;

	switch (c->op) {
	case NUB_GDB_OP_SUPPORTED:
		text = "PacketSize=1000;qXfer:features:read+;qXfer:auxv:read+;swbreak+;"
		       "QStartNoAckMode+";
		break;
	case NUB_GDB_OP_NOACK:
		if (send_str(g, "OK"))
			return -1;
		g->noack = 1;
		return 0;
	case NUB_GDB_OP_WHY:
		n = stop_reply(s, r, cap);
		break;
	case NUB_GDB_OP_READ_REGS:
		n = read_regs(s, r);
		break;
	case NUB_GDB_OP_WRITE_REGS:
		text = write_regs(s, c);
		break;
	case NUB_GDB_OP_READ_REG: {
		uint8_t v[16];
		size_t size = nub_gdb_reg_get(&s->st, c->reg, v);
		nub_gdb_hex(v, size, r);
		n = 2 * size;
		break;
	}
	case NUB_GDB_OP_WRITE_REG:
		text = write_reg(s, c);
		break;
	case NUB_GDB_OP_READ_MEM:
		n = read_mem(s, c, r);
		break;
	case NUB_GDB_OP_WRITE_MEM:
		text = write_mem(s, c);
		break;
	case NUB_GDB_OP_INSERT_BP:
		text = bp_insert(g, s->t->view, c->addr);
		break;
	case NUB_GDB_OP_REMOVE_BP:
		text = bp_remove(g, c->addr);
		break;
	case NUB_GDB_OP_XFER:
		n = xfer(s, c, r, cap);
		break;
	case NUB_GDB_OP_OK:
		text = "OK";
		break;
	case NUB_GDB_OP_ATTACHED:
		text = "1";
		break;
	case NUB_GDB_OP_THREAD:
		text = "QC1";
		break;
	case NUB_GDB_OP_THREADS:
		text = "m1";
		break;
	case NUB_GDB_OP_THREADS_END:
		text = "l";
		break;
	case NUB_GDB_OP_MALFORMED:
		text = "E01";
		break;
	case NUB_GDB_OP_CONTINUE:
	case NUB_GDB_OP_STEP:
		if (c->has_addr) {
			uint8_t v[8];
			for (unsigned i = 0; i < 8; i++)
				v[i] = (uint8_t)(c->addr >> (8 * i));
			if (nub_gdb_reg_set(&s->st, 16, v))
				return send_str(g, "E01") ? -1 : 0;
		}
		*how = c->op == NUB_GDB_OP_STEP ? NUB_GDB_STEP : NUB_GDB_CONTINUE;
		/* A fault's signal passed on ends the call with it; a trap's
		 * (or none) just resumes. */
		if (c->signo && c->signo != NUB_SIG_TRAP && s->signo != NUB_SIG_TRAP)
			*how = NUB_GDB_DELIVER;
		return 1;
	case NUB_GDB_OP_DETACH:
		send_str(g, "OK");
		*how = NUB_GDB_DETACH;
		return 1;
	case NUB_GDB_OP_KILL:
		if (g->fr.data[0] == 'v') /* vKill has a reply, k none */
			send_str(g, "OK");
		*how = NUB_GDB_KILL;
		return 1;
	default:
		break;
	}
	if (n == SIZE_MAX) {
		n = strlen(text);
		memcpy(r, text, n);
	}
	return send_packet(g, r, n) ? -1 : 0;
}

/* Write the guest's registers back as gdb left them, TF as `step` says. */
static int resume_write(const struct stop *s, int step, struct nub_error *err)
{
	const struct nub_gdb_target *t = s->t;
	struct nub_regs regs = s->st.regs;
	uint64_t flags = step ? regs.rflags | RFLAGS_TF : regs.rflags & ~RFLAGS_TF;
	int rc = 0;

	if (t->frame) {
		/* The vCPU runs the stub: its RIP, RSP and RFLAGS stay the
		 * stub's, the guest's go in the frame its iretq pops. */
		struct nub_regs now;
		rc = nub_hv_get_regs(t->hv, &now, err);
		regs.rip = now.rip;
		regs.rsp = now.rsp;
		regs.rflags = now.rflags;
		t->frame->rip = s->st.regs.rip;
		t->frame->rsp = s->st.regs.rsp;
		t->frame->rflags = flags;
		if (!rc)
			rc = nub_shmem_write(t->scratch, t->frame_off, t->frame, sizeof(*t->frame),
			                     err);
	} else {
		regs.rflags = flags;
	}
	if (!rc)
		rc = nub_hv_set_regs(t->hv, &regs, err);
	if (!rc && s->st.have_fpu && memcmp(&s->fpu_then, &s->st.fpu, sizeof(s->st.fpu)))
		rc = nub_hv_set_fpu(t->hv, &s->st.fpu, err);
	return rc;
}

int nub_gdb_stop(struct nub_gdb *g, const struct nub_gdb_target *t, int signo, int swbreak,
                 enum nub_gdb_resume *how, struct nub_error *err)
{
	struct stop s = {.t = t, .signo = signo, .swbreak = swbreak};
	struct nub_gdb_cmd c;
	int rc = nub_stop_capture(t->hv, t->frame, &s.st, err);
	size_t n;

	if (rc)
		return rc;
	s.fpu_then = s.st.fpu;
	s.st.regs.rflags &= ~RFLAGS_TF; /* the stepper's, set again for a step */
	*how = NUB_GDB_DETACH;          /* what a gdb that goes away means */
	n = stop_reply(&s, g->reply, sizeof(g->reply));
	/* The first stop is told when gdb asks ('?'); later ones are the
	 * reply to the 'c' or 's' that resumed the guest. */
	rc = g->waiting ? send_packet(g, g->reply, n) : 0;
	g->waiting = 0;
	while (!rc && (rc = recv_packet(g)) == 0) {
		nub_gdb_parse(g->fr.data, g->fr.len, &c);
		rc = serve(g, &s, &c, how);
	}
	if (rc < 0) {
		hang_up(g);
		*how = NUB_GDB_DETACH;
	}
	if (*how == NUB_GDB_DETACH || *how == NUB_GDB_KILL)
		hang_up(g);
	g->waiting = *how == NUB_GDB_CONTINUE || *how == NUB_GDB_STEP;
	if (*how == NUB_GDB_KILL || *how == NUB_GDB_DELIVER)
		return 0;
	return resume_write(&s, *how == NUB_GDB_STEP, err);
}

void nub_gdb_exited(struct nub_gdb *g, int signo)
{
	char msg[8];

	if (!nub_gdb_attached(g))
		return;
	snprintf(msg, sizeof(msg), "%c%02x", signo ? 'X' : 'W', signo & 0xff);
	send_str(g, msg);
	hang_up(g);
}

void nub_gdb_free(struct nub_gdb *g)
{
	if (!g)
		return;
	hang_up(g);
	if (g->listen_fd >= 0)
		close(g->listen_fd);
	free(g);
}
