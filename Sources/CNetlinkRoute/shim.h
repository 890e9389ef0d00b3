// libnl-route-3: addresses and link events for the VRRP shell.
#define _GNU_SOURCE
#include <sched.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

// setns(2) for network namespaces (Glibc's Swift module hides it behind _GNU_SOURCE): the lab tests run
// netlink calls inside a namespace of their own.
static inline int hc_enter_network_namespace(int fd) { return setns(fd, CLONE_NEWNET); }
