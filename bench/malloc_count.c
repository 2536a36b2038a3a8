// LD_PRELOAD library for the bench: counts a process's heap allocations (malloc,
// calloc, realloc, aligned allocations; operator new goes through malloc) into a
// file that another process reads while it runs:
//   MALLOC_COUNT_FILE=/tmp/x LD_PRELOAD=bench/libmalloc_count.so mcpfwd ...
// The file holds two little-endian uint64 counters: allocations, bytes asked for.
// bench/run.sh reads it before and after a load run (bench/malloc_count.py).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

static _Atomic uint64_t* counters;  // [0] allocations, [1] bytes

__attribute__((constructor)) static void malloc_count_init(void) {
  const char* path = getenv("MALLOC_COUNT_FILE");
  if (!path) return;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (ftruncate(fd, 4096) == 0) {
    void* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) counters = p;
  }
  close(fd);
  // Children (the servers mcpfwd spawns) do not count into the same file.
  unsetenv("LD_PRELOAD");
  unsetenv("MALLOC_COUNT_FILE");
}

static inline void count(size_t n) {
  if (counters) {
    atomic_fetch_add_explicit(&counters[0], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&counters[1], n, memory_order_relaxed);
  }
}

void* malloc(size_t n) {
  count(n);
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  count(a * b);
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  count(n);
  return __libc_realloc(p, n);
}
void free(void* p) {
  __libc_free(p);
}
void* memalign(size_t al, size_t n) {
  count(n);
  return __libc_memalign(al, n);
}
void* aligned_alloc(size_t al, size_t n) {
  count(n);
  return __libc_memalign(al, n);
}
int posix_memalign(void** out, size_t al, size_t n) {
  count(n);
  void* p = __libc_memalign(al, n);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}
