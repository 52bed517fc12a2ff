/* LD_PRELOAD shim for the TSan stage (scripts/test.sh): Debian 12's librdkafka creates its
 * threads with C11 thrd_create and locks with mtx_* / cnd_*. glibc implements those by calling
 * its internal pthread functions directly, so neither GCC 12's nor clang 16's ThreadSanitizer
 * runtime sees them: a librdkafka thread is unknown to TSan and crashes it at its first
 * intercepted malloc ("SEGV ... SizeClassAllocator64LocalCache::Allocate", "nested bug in the
 * same thread"), and its locks would be invisible (false races). This shim forwards every C11
 * thread call librdkafka uses to the public pthread function, which TSan intercepts. glibc's C11
 * types are its pthread types (same layout), and the result codes are mapped as glibc does.
 * Built by scripts/test.sh: cc -shared -fPIC -O2 -o build/<tsan>/tsan_c11_threads.so this.c */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

static int map(int rc) {
  switch (rc) {
    case 0: return thrd_success;
    case ENOMEM: return thrd_nomem;
    case ETIMEDOUT: return thrd_timedout;
    case EBUSY: return thrd_busy;
    default: return thrd_error;
  }
}

struct start { thrd_start_t func; void *arg; };

static void *trampoline(void *p) {
  struct start s = *(struct start *)p;
  free(p);
  return (void *)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg) {
  struct start *s = malloc(sizeof *s);
  if (s == NULL) return thrd_nomem;
  s->func = func;
  s->arg = arg;
  const int rc = pthread_create((pthread_t *)thr, NULL, trampoline, s);
  if (rc != 0) free(s);
  return map(rc);
}

int thrd_join(thrd_t thr, int *res) {
  void *r = NULL;
  const int rc = pthread_join((pthread_t)thr, &r);
  if (rc == 0 && res != NULL) *res = (int)(intptr_t)r;
  return map(rc);
}

int thrd_detach(thrd_t thr) { return map(pthread_detach((pthread_t)thr)); }

int mtx_init(mtx_t *m, int type) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  if (type & mtx_recursive) pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init((pthread_mutex_t *)m, &a);
  pthread_mutexattr_destroy(&a);
  return map(rc);
}
int mtx_lock(mtx_t *m) { return map(pthread_mutex_lock((pthread_mutex_t *)m)); }
int mtx_trylock(mtx_t *m) { return map(pthread_mutex_trylock((pthread_mutex_t *)m)); }
int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict t) {
  return map(pthread_mutex_timedlock((pthread_mutex_t *)m, t));
}
int mtx_unlock(mtx_t *m) { return map(pthread_mutex_unlock((pthread_mutex_t *)m)); }
void mtx_destroy(mtx_t *m) { pthread_mutex_destroy((pthread_mutex_t *)m); }

int cnd_init(cnd_t *c) { return map(pthread_cond_init((pthread_cond_t *)c, NULL)); }
int cnd_signal(cnd_t *c) { return map(pthread_cond_signal((pthread_cond_t *)c)); }
int cnd_broadcast(cnd_t *c) { return map(pthread_cond_broadcast((pthread_cond_t *)c)); }
int cnd_wait(cnd_t *c, mtx_t *m) {
  return map(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}
int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict t) {
  return map(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, t));
}
void cnd_destroy(cnd_t *c) { pthread_cond_destroy((pthread_cond_t *)c); }

void call_once(once_flag *flag, void (*func)(void)) { pthread_once((pthread_once_t *)flag, func); }
