/* SPDX-License-Identifier: MIT */
/* Function ids of the example guests (build/guest/hello.elf, calc.elf).
 * All integers on the wire are little-endian; argument bytes carry no
 * alignment guarantee. */
#ifndef NUB_EXAMPLE_IDS_H
#define NUB_EXAMPLE_IDS_H

/* hello.elf */
#define NUB_HELLO_ELF   "hello.elf"
#define NUB_HELLO_GREET 1 /* in: name bytes; out: "hello, <name>"; logs at INFO */

/* calc.elf */
#define NUB_CALC_ELF "calc.elf"
#define NUB_CALC_ADD 1 /* in: i64 a, i64 b; out: i64 a+b (wrapping) */
#define NUB_CALC_SUM 2 /* in: n x i64 (in_len % 8 == 0, else NUB_EINVAL); out: i64 sum */
#define NUB_CALC_FIB 3 /* in: u32 n (n <= 93, else NUB_ERANGE); out: u64 fib(n) */

#endif
