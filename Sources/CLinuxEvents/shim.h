// Linux readiness calls that Swift's Glibc module leaves out: epoll, and pidfd_open (glibc 2.36, Linux 5.3).
#include <sys/epoll.h>
#include <sys/pidfd.h>
