/* SPDX-License-Identifier: MIT */
/* A shared object that is not a nub backend: no entry symbol. */
int nub_not_a_backend(void);
int nub_not_a_backend(void)
{
	return 42;
}
