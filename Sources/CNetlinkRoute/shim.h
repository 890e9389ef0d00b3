// libnl-route-3: addresses and link events for the VRRP shell.
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
