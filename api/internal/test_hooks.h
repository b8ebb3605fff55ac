/* Test-only entry points of libbpfmap. Not installed; not part of the API. */
#ifndef BPFMAP_INTERNAL_TEST_HOOKS_H
#define BPFMAP_INTERNAL_TEST_HOOKS_H

#ifdef __cplusplus
extern "C" {
#endif

/* When set, every writer calls `hook` inside its critical section: the map's lock held, the
 * element's sequence count odd and the value half-written. Crash tests stop or kill the
 * process there to prove that a holder's death blocks nobody. NULL removes the hook. */
void bpfmap_test_set_crash_hook(void (*hook)(void));

#ifdef __cplusplus
}
#endif

#endif
