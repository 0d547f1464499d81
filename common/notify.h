/* notify.h: systemd's notify protocol (sd_notify) without libsystemd.
 * READY=1, STATUS=, WATCHDOG=1, STOPPING=1 as datagrams to $NOTIFY_SOCKET. */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stdint.h>

/* A blocked send (systemd's queue full) gives up after this long. */
#define NOTIFY_SEND_TIMEOUT_MS	1000

/* The main thread's: nothing here takes a lock. */
int	 notify_init(void);
int	 notify_send(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
int	 notify_enabled(void);
uint64_t notify_watchdog_usec(void);
void	 notify_close(void);

#endif
