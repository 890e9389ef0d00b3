// libnl-route-3: addresses and link events for the VRRP shell.
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
// sockaddr_ll, for gratuitous ARP through a packet socket.
#include <netpacket/packet.h>

// setns(2) for network namespaces: the lab tests run netlink calls inside a namespace of their own.
// Glibc declares it only under _GNU_SOURCE, and defining that here would give this module another
// shape of fd_set than every other C module in the build (clang then refuses to merge them), so the
// declaration and the flag (linux/sched.h) are spelled out.
extern int setns(int fd, int nstype);
static inline int hc_enter_network_namespace(int fd) { return setns(fd, 0x40000000 /* CLONE_NEWNET */); }
