/* SPDX-License-Identifier: MIT */
/* A strict, bounded JSON tokeniser (json.h): recursive descent with a depth
 * limit, every byte checked, nothing allocated. */
#include <stdio.h>
#include <string.h>

#include "image/json.h"

struct parser {
	const char *s;
	size_t len, at;
	struct nub_json_tok *tok;
	uint32_t max, n;
	char *why;
	size_t cap;
};

static int fail(struct parser *p, const char *what)
{
	snprintf(p->why, p->cap, "%s at byte %zu", what, p->at);
	return -1;
}

static void skip_space(struct parser *p)
{
	while (p->at < p->len && (p->s[p->at] == ' ' || p->s[p->at] == '\t' ||
	                          p->s[p->at] == '\n' || p->s[p->at] == '\r'))
		p->at++;
}

static int new_tok(struct parser *p, enum nub_json_type type, uint32_t *t)
{
	if (p->n == p->max)
		return fail(p, "too many values");
	*t = p->n++;
	p->tok[*t] = (struct nub_json_tok){type, p->at, p->at, 0, 0};
	return 0;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int parse_string(struct parser *p)
{
	uint32_t t;

	p->at++; /* the opening quote */
	if (new_tok(p, NUB_JSON_STRING, &t))
		return -1;
	while (p->at < p->len && p->s[p->at] != '"') {
		unsigned char c = (unsigned char)p->s[p->at];
		if (c < 0x20)
			return fail(p, "control character in a string");
		if (c == '\\') {
			if (p->len - p->at < 2)
				return fail(p, "unfinished escape");
			char e = p->s[p->at + 1];
			if (e == 'u') {
				if (p->len - p->at < 6 || !is_hex(p->s[p->at + 2]) ||
				    !is_hex(p->s[p->at + 3]) || !is_hex(p->s[p->at + 4]) ||
				    !is_hex(p->s[p->at + 5]))
					return fail(p, "bad \\u escape");
				p->at += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || !e)
				return fail(p, "bad escape");
			p->at += 2;
			continue;
		}
		p->at++;
	}
	if (p->at == p->len)
		return fail(p, "unterminated string");
	p->tok[t].end = p->at++;
	p->tok[t].next = p->n;
	return 0;
}

static int parse_number(struct parser *p)
{
	uint32_t t;
	size_t digits = 0;

	if (new_tok(p, NUB_JSON_NUMBER, &t))
		return -1;
	if (p->s[p->at] == '-')
		p->at++;
	while (p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9')
		p->at++, digits++;
	if (!digits)
		return fail(p, "bad number");
	if (p->at < p->len && p->s[p->at] == '.') {
		for (p->at++, digits = 0;
		     p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9'; p->at++)
			digits++;
		if (!digits)
			return fail(p, "bad fraction");
	}
	if (p->at < p->len && (p->s[p->at] == 'e' || p->s[p->at] == 'E')) {
		p->at++;
		if (p->at < p->len && (p->s[p->at] == '+' || p->s[p->at] == '-'))
			p->at++;
		for (digits = 0; p->at < p->len && p->s[p->at] >= '0' && p->s[p->at] <= '9';
		     p->at++)
			digits++;
		if (!digits)
			return fail(p, "bad exponent");
	}
	p->tok[t].end = p->at;
	p->tok[t].next = p->n;
	return 0;
}

static int parse_literal(struct parser *p)
{
	static const char *const words[] = {"true", "false", "null"};
	uint32_t t;

	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(words[i]);
		if (p->len - p->at >= l && !memcmp(p->s + p->at, words[i], l)) {
			if (new_tok(p, NUB_JSON_LITERAL, &t))
				return -1;
			p->at += l;
			p->tok[t].end = p->at;
			p->tok[t].next = p->n;
			return 0;
		}
	}
	return fail(p, "unexpected character");
}

static int parse_value(struct parser *p, unsigned depth);

/* An object's or an array's members, after its opening bracket. */
static int parse_container(struct parser *p, unsigned depth, int object)
{
	uint32_t t;
	char close = object ? '}' : ']';

	if (depth >= NUB_JSON_DEPTH_MAX)
		return fail(p, "nested too deep");
	if (new_tok(p, object ? NUB_JSON_OBJECT : NUB_JSON_ARRAY, &t))
		return -1;
	p->at++;
	skip_space(p);
	if (p->at < p->len && p->s[p->at] == close) {
		p->at++;
	} else {
		for (;;) {
			skip_space(p);
			if (object) {
				if (p->at >= p->len || p->s[p->at] != '"')
					return fail(p, "expected a member name");
				if (parse_string(p))
					return -1;
				skip_space(p);
				if (p->at >= p->len || p->s[p->at] != ':')
					return fail(p, "expected ':'");
				p->at++;
			}
			if (parse_value(p, depth + 1))
				return -1;
			p->tok[t].size++;
			skip_space(p);
			if (p->at < p->len && p->s[p->at] == ',') {
				p->at++;
				continue;
			}
			if (p->at < p->len && p->s[p->at] == close) {
				p->at++;
				break;
			}
			return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
		}
	}
	p->tok[t].end = p->at;
	p->tok[t].next = p->n;
	return 0;
}

static int parse_value(struct parser *p, unsigned depth)
{
	skip_space(p);
	if (p->at >= p->len)
		return fail(p, "unexpected end");
	switch (p->s[p->at]) {
	case '{':
		return parse_container(p, depth, 1);
	case '[':
		return parse_container(p, depth, 0);
	case '"':
		return parse_string(p);
	default:
		if (p->s[p->at] == '-' || (p->s[p->at] >= '0' && p->s[p->at] <= '9'))
			return parse_number(p);
		return parse_literal(p);
	}
}

int nub_json_parse(const char *text, size_t len, struct nub_json_tok *tok, uint32_t max,
                   uint32_t *n, char *why, size_t cap)
{
	struct parser p = {text, len, 0, tok, max, 0, why, cap};

	if (parse_value(&p, 0))
		return -1;
	skip_space(&p);
	if (p.at != len)
		return fail(&p, "text after the value");
	*n = p.n;
	return 0;
}

uint32_t nub_json_member(const char *text, const struct nub_json_tok *tok, uint32_t obj,
                         const char *key)
{
	uint32_t k;

	if (tok[obj].type != NUB_JSON_OBJECT)
		return 0;
	k = obj + 1;
	for (uint32_t i = 0; i < tok[obj].size; i++) {
		uint32_t v = k + 1;
		if (nub_json_string_is(text, tok, k, key))
			return v;
		k = tok[v].next;
	}
	return 0;
}

uint32_t nub_json_item(const struct nub_json_tok *tok, uint32_t arr, uint32_t i)
{
	uint32_t t = arr + 1;

	if (tok[arr].type != NUB_JSON_ARRAY || i >= tok[arr].size)
		return 0;
	while (i--)
		t = tok[t].next;
	return t;
}

int nub_json_string(const char *text, const struct nub_json_tok *tok, uint32_t t, char *buf,
                    size_t cap)
{
	size_t o = 0;

	if (tok[t].type != NUB_JSON_STRING || !cap)
		return -1;
	for (size_t i = tok[t].start; i < tok[t].end; i++) {
		char c = text[i];
		if (c == '\\') {
			char e = text[++i];
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			if (e == 'u') {
				unsigned v = 0;
				for (int k = 1; k <= 4; k++) {
					char h = text[i + (size_t)k];
					v = v * 16 +
					    (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
				}
				if (v == 0 || v > 0x7f)
					return -1;
				c = (char)v;
				i += 4;
			} else {
				c = to[strchr(from, e) - from];
			}
		}
		if (o + 1 >= cap)
			return -1;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return 0;
}

int nub_json_string_is(const char *text, const struct nub_json_tok *tok, uint32_t t, const char *s)
{
	char buf[256];

	return !nub_json_string(text, tok, t, buf, sizeof(buf)) && !strcmp(buf, s);
}

int nub_json_u64(const char *text, const struct nub_json_tok *tok, uint32_t t, uint64_t *v)
{
	uint64_t x = 0;

	if (tok[t].type != NUB_JSON_NUMBER || tok[t].start == tok[t].end)
		return -1;
	for (size_t i = tok[t].start; i < tok[t].end; i++) {
		unsigned d = (unsigned)(text[i] - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}
