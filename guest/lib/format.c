/* SPDX-License-Identifier: MIT */
#include "format.h"

#include <stdint.h>

struct fmt_out {
	char *buf;
	size_t cap, len; /* len counts everything, also what did not fit */
};

struct fmt_spec {
	int left, zero;
	int width;
	int prec; /* -1: none */
	int len;  /* length modifier: -2 hh, -1 h, 0 none, 1 l, 2 ll, 3 z */
};

static void out_char(struct fmt_out *o, char c)
{
	if (o->cap && o->len < o->cap - 1)
		o->buf[o->len] = c;
	if (o->len < SIZE_MAX)
		o->len++;
}

static void out_repeat(struct fmt_out *o, char c, int n)
{
	while (n-- > 0)
		out_char(o, c);
}

static void out_mem(struct fmt_out *o, const char *s, size_t n)
{
	while (n--)
		out_char(o, *s++);
}

/* Digits of v in `base` into the end of tmp; returns the start. */
static char *fmt_digits(char *end, uint64_t v, unsigned base, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;
	do {
		*--p = digits[v % base];
		v /= base;
	} while (v);
	return p;
}

static void fmt_integer(struct fmt_out *o, const struct fmt_spec *sp, uint64_t mag, int negative,
                        unsigned base, int upper, const char *prefix)
{
	char tmp[24];
	char *end = tmp + sizeof(tmp);
	char *d = fmt_digits(end, mag, base, upper);
	int ndig = (int)(end - d);
	if (sp->prec == 0 && mag == 0)
		ndig = 0;
	int zeros = sp->prec > ndig ? sp->prec - ndig : 0;
	int plen = 0;
	while (prefix[plen])
		plen++;
	int body = (negative ? 1 : 0) + plen + zeros + ndig;
	int pad = sp->width > body ? sp->width - body : 0;
	if (sp->zero && !sp->left && sp->prec < 0) {
		zeros += pad;
		pad = 0;
	}
	if (!sp->left)
		out_repeat(o, ' ', pad);
	if (negative)
		out_char(o, '-');
	out_mem(o, prefix, (size_t)plen);
	out_repeat(o, '0', zeros);
	out_mem(o, end - ndig, (size_t)ndig);
	if (sp->left)
		out_repeat(o, ' ', pad);
}

static void fmt_string(struct fmt_out *o, const struct fmt_spec *sp, const char *s)
{
	if (!s)
		s = "(null)";
	size_t n = 0;
	while ((sp->prec < 0 || n < (size_t)sp->prec) && s[n])
		n++;
	int pad = sp->width > 0 && (size_t)sp->width > n ? sp->width - (int)n : 0;
	if (!sp->left)
		out_repeat(o, ' ', pad);
	out_mem(o, s, n);
	if (sp->left)
		out_repeat(o, ' ', pad);
}

static int64_t arg_signed(const struct fmt_spec *sp, va_list *ap)
{
	switch (sp->len) {
	case -2:
		return (signed char)va_arg(*ap, int);
	case -1:
		return (short)va_arg(*ap, int);
	case 1:
		return va_arg(*ap, long);
	case 2:
		return va_arg(*ap, long long);
	case 3:
		return (int64_t)va_arg(*ap, size_t);
	default:
		return va_arg(*ap, int);
	}
}

static uint64_t arg_unsigned(const struct fmt_spec *sp, va_list *ap)
{
	switch (sp->len) {
	case -2:
		return (unsigned char)va_arg(*ap, unsigned);
	case -1:
		return (unsigned short)va_arg(*ap, unsigned);
	case 1:
		return va_arg(*ap, unsigned long);
	case 2:
		return va_arg(*ap, unsigned long long);
	case 3:
		return va_arg(*ap, size_t);
	default:
		return va_arg(*ap, unsigned);
	}
}

/* Parse flags, width, precision and length; returns the conversion char. */
static const char *parse_spec(const char *f, struct fmt_spec *sp, va_list *ap)
{
	*sp = (struct fmt_spec){.prec = -1};
	for (;; f++) {
		if (*f == '-')
			sp->left = 1;
		else if (*f == '0')
			sp->zero = 1;
		else
			break;
	}
	if (*f == '*') {
		sp->width = va_arg(*ap, int);
		if (sp->width < 0) {
			sp->left = 1;
			sp->width = sp->width == INT32_MIN ? INT32_MAX : -sp->width;
		}
		f++;
	} else {
		while (*f >= '0' && *f <= '9') {
			sp->width = sp->width > 100000 ? sp->width : sp->width * 10 + (*f - '0');
			f++;
		}
	}
	if (*f == '.') {
		f++;
		sp->prec = 0;
		if (*f == '*') {
			sp->prec = va_arg(*ap, int);
			f++;
		} else {
			while (*f >= '0' && *f <= '9') {
				sp->prec =
				        sp->prec > 100000 ? sp->prec : sp->prec * 10 + (*f - '0');
				f++;
			}
		}
		if (sp->prec < 0)
			sp->prec = -1;
	}
	if (*f == 'h') {
		sp->len = -1;
		if (*++f == 'h') {
			sp->len = -2;
			f++;
		}
	} else if (*f == 'l') {
		sp->len = 1;
		if (*++f == 'l') {
			sp->len = 2;
			f++;
		}
	} else if (*f == 'z') {
		sp->len = 3;
		f++;
	}
	return f;
}

/* One conversion at *f (after the spec); returns 0 if it is not supported. */
static int fmt_convert(struct fmt_out *o, const struct fmt_spec *sp, char c, va_list *ap)
{
	switch (c) {
	case 'd':
	case 'i': {
		int64_t v = arg_signed(sp, ap);
		uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
		fmt_integer(o, sp, mag, v < 0, 10, 0, "");
		return 1;
	}
	case 'u':
		fmt_integer(o, sp, arg_unsigned(sp, ap), 0, 10, 0, "");
		return 1;
	case 'x':
	case 'X':
		fmt_integer(o, sp, arg_unsigned(sp, ap), 0, 16, c == 'X', "");
		return 1;
	case 'p':
		fmt_integer(o, sp, (uintptr_t)va_arg(*ap, void *), 0, 16, 0, "0x");
		return 1;
	case 'c': {
		char ch = (char)va_arg(*ap, int);
		int pad = sp->width > 1 ? sp->width - 1 : 0;
		if (!sp->left)
			out_repeat(o, ' ', pad);
		out_char(o, ch);
		if (sp->left)
			out_repeat(o, ' ', pad);
		return 1;
	}
	case 's':
		fmt_string(o, sp, va_arg(*ap, const char *));
		return 1;
	case '%':
		out_char(o, '%');
		return 1;
	default:
		return 0;
	}
}

int nub_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct fmt_out o = {.buf = buf, .cap = cap};
	va_list aq;
	va_copy(aq, ap);
	while (*fmt) {
		if (*fmt != '%') {
			out_char(&o, *fmt++);
			continue;
		}
		const char *start = fmt;
		struct fmt_spec sp;
		fmt = parse_spec(fmt + 1, &sp, &aq);
		if (*fmt && fmt_convert(&o, &sp, *fmt, &aq)) {
			fmt++;
			continue;
		}
		/* Unsupported conversion: copy it verbatim. */
		out_mem(&o, start, (size_t)(fmt - start));
		if (*fmt)
			out_char(&o, *fmt++);
	}
	va_end(aq);
	if (cap)
		buf[o.len < cap ? o.len : cap - 1] = '\0';
	return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}

int nub_snprintf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = nub_vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}
