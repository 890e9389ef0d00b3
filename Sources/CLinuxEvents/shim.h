// Linux calls that Swift's Glibc module leaves out: epoll, eventfd, pidfd_open (glibc 2.36, Linux 5.3), a thread's name,
// malloc_trim.
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <malloc.h>

// prctl is variadic, which Swift cannot call: names the calling thread (at most 15 bytes show).
static inline int hc_name_this_thread(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }
