// libsystemd: sd_notify for Type=notify, the watchdog, and sd-bus for the reconciler.
#include <systemd/sd-daemon.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>
