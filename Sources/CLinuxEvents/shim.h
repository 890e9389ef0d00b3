// Linux calls that Swift's Glibc module leaves out: epoll, eventfd, pidfd_open (glibc 2.36, Linux 5.3), a thread's name,
// mallopt and malloc_trim.
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <malloc.h>

// prctl is variadic, which Swift cannot call: names the calling thread (at most 15 bytes show).
static inline int hc_name_this_thread(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

// One malloc arena for all threads (mallopt's M_ARENA_MAX is a macro Swift cannot see through Glibc's module).
static inline int hc_use_one_malloc_arena(void) { return mallopt(M_ARENA_MAX, 1); }
