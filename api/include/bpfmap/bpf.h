/* bpfmap: the kernel's BPF map API, in user space, over shared memory.
 *
 * Call bpf() exactly as you would call the bpf(2) system call, with the kernel's own
 * union bpf_attr from <linux/bpf.h>. It returns what the kernel returns (a new fd for
 * BPF_MAP_CREATE, BPF_OBJ_GET and BPF_MAP_GET_FD_BY_ID; 0 for the other commands) or -1 with
 * errno set to the kernel's errno for the same mistake.
 *
 * Maps live in shared-memory segments under a root folder: $BPFMAP_ROOT, by default
 * /dev/shm/bpfmap. Any process of the same user reaches a map by its pin (BPF_OBJ_GET), by its
 * id (BPF_MAP_GET_FD_BY_ID), by an fd received over a unix socket, or by inheriting it across
 * fork(). A map fd is a real file descriptor; close() releases it, and the last close of an
 * unpinned map destroys it.
 *
 * Supported map types, each with the kernel's create checks and element semantics:
 *   BPF_MAP_TYPE_HASH (with or without BPF_F_NO_PREALLOC), BPF_MAP_TYPE_ARRAY,
 *   BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY (a value through bpf() is
 *     round_up(value_size, 8) bytes per possible CPU; see bpfmap_this_cpu_ptr() below),
 *   BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH (a full map evicts the least recently
 *     used element; BPF_F_NO_COMMON_LRU accepted),
 *   BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK (key_size 0: push with BPF_MAP_UPDATE_ELEM, pop with
 *     BPF_MAP_LOOKUP_AND_DELETE_ELEM, peek with BPF_MAP_LOOKUP_ELEM),
 *   BPF_MAP_TYPE_BLOOM_FILTER (map_extra = number of hashes; BPF_MAP_LOOKUP_ELEM's value is
 *     the value to test: 0 = maybe present, ENOENT = absent),
 *   BPF_MAP_TYPE_LPM_TRIE (struct bpf_lpm_trie_key keys, BPF_F_NO_PREALLOC required).
 * Other map types (programs, sockets, perf events, ring buffers, maps of maps) fail at
 * BPF_MAP_CREATE with EINVAL.
 * Supported commands: BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM,
 * BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_MAP_LOOKUP_AND_DELETE_ELEM, BPF_MAP_FREEZE,
 * BPF_OBJ_PIN, BPF_OBJ_GET, BPF_MAP_GET_NEXT_ID, BPF_MAP_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD.
 * Every other command (programs, links, BTF, batches, ...) fails with EINVAL, as the kernel
 * does for a command it does not know, and changes nothing.
 */
#ifndef BPFMAP_BPF_H
#define BPFMAP_BPF_H

#include <linux/bpf.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The bpf(2) system call, served in user space. */
int bpf(int cmd, union bpf_attr* attr, unsigned int size);

/* Removes a pin made with BPF_OBJ_PIN (like unlink(2) on bpffs) and, if no process holds an
 * fd to the map any more, destroys it at once. Removing a pin with rm(1) works too; the map
 * is then destroyed the next time any process uses the library. Returns 0 or -1 with errno. */
int bpfmap_unpin(const char* path);

/* File mode for the segment files of maps this process creates from now on (default 0600:
 * the owner's processes only). 0660 lets the owner's group share them too. Returns the
 * previous mode. */
unsigned bpfmap_set_create_mode(unsigned mode);

/* For tools that inspect a store without changing it (bpfmap-inspect calls this first, for
 * its read-only commands): from now on this process does not reclaim dead maps (maps whose
 * holders were all killed: BPF_MAP_GET_NEXT_ID skips them and BPF_MAP_GET_FD_BY_ID gives ENOENT,
 * but neither destroys them), and its lookups and BPF_MAP_GET_NEXT_KEY never take a map's lock:
 * an element that a writer stopped or killed inside its critical section is read as it is
 * (possibly half-written) instead of waiting for the writer or repairing after it. */
void bpfmap_observe_only(int on);

/* Per-CPU maps (BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH,
 * BPF_MAP_TYPE_LRU_PERCPU_HASH): the address, in the map's shared memory, of the calling CPU's
 * slot of the element at `key`, which is what bpf_map_lookup_elem() returns to a BPF program in
 * the kernel. The slot has value_size bytes and is 8-byte aligned. Update it in place with
 * atomic operations, e.g. __atomic_fetch_add((uint64_t*)p, 1, __ATOMIC_RELAXED): lock-free,
 * and no increment is lost even when the thread migrates to another CPU right after the call
 * (it then adds to the old CPU's slot, which only costs cache locality). A lookup through
 * bpf() returns every CPU's slot; add them up for the total.
 * The pointer stays valid while this process holds an fd to the map; for a hash map, only
 * while the element exists (after a delete, the memory may be reused by another key).
 * Returns NULL with errno: EBADF/EINVAL (not a map fd), EPERM (fd not writable or map frozen),
 * EFAULT (unreadable key), ENOENT (no such element), EINVAL (not a per-CPU map). */
void* bpfmap_this_cpu_ptr(int fd, const void* key);

/* The root folder this process uses ($BPFMAP_ROOT or the default), read once on first use. */
const char* bpfmap_root(void);

#ifdef __cplusplus
}
#endif

#endif /* BPFMAP_BPF_H */
