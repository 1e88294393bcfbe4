/*
 * test-server.c - the pure parts of the service manager's protocols:
 * NOTIFY_SOCKET addresses, WATCHDOG_USEC/WATCHDOG_PID, LISTEN_PID/
 * LISTEN_FDS/LISTEN_FDNAMES, and the watchdog's every-loop-beat rule.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "server/activation.h"
#include "server/notify.h"
#include "server/watchdog.h"
#include "tap.h"

static void
test_notify_addr(void)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	char longpath[200];

	ok(evapi_notify_addr("/run/systemd/notify", &sa, &len) == EVAPI_OK &&
		   strcmp(sa.sun_path, "/run/systemd/notify") == 0 &&
		   len == offsetof(struct sockaddr_un, sun_path) + 19,
	   "a path: sun_path and its length");
	ok(evapi_notify_addr("@evapi", &sa, &len) == EVAPI_OK &&
		   sa.sun_path[0] == '\0' &&
		   memcmp(sa.sun_path + 1, "evapi", 5) == 0 &&
		   len == offsetof(struct sockaddr_un, sun_path) + 6,
	   "@name: abstract, leading NUL, no trailing one");
	ok(evapi_notify_addr("run/notify", &sa, &len) == EVAPI_ERR,
	   "a relative path is refused");
	ok(evapi_notify_addr("", &sa, &len) == EVAPI_ERR &&
		   evapi_notify_addr("@", &sa, &len) == EVAPI_ERR &&
		   evapi_notify_addr(NULL, &sa, &len) == EVAPI_ERR,
	   "empty, a bare @ and NULL are refused");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	ok(evapi_notify_addr(longpath, &sa, &len) == EVAPI_ERR,
	   "a path longer than sun_path is refused");
}

static void
test_watchdog_usec(void)
{
	ok(evapi_notify_watchdog_usec("3000000", NULL, 42) == 3000000,
	   "WATCHDOG_USEC without WATCHDOG_PID");
	ok(evapi_notify_watchdog_usec("3000000", "42", 42) == 3000000,
	   "WATCHDOG_PID is this process");
	ok(evapi_notify_watchdog_usec("3000000", "43", 42) == 0,
	   "WATCHDOG_PID is another process: no watchdog");
	ok(evapi_notify_watchdog_usec(NULL, NULL, 42) == 0 &&
		   evapi_notify_watchdog_usec("", "", 42) == 0,
	   "unset: no watchdog");
	ok(evapi_notify_watchdog_usec("-5", NULL, 42) == 0 &&
		   evapi_notify_watchdog_usec("5s", NULL, 42) == 0 &&
		   evapi_notify_watchdog_usec("99999999999999999999999", NULL,
					      42) == 0,
	   "negative, suffixed, overflowing: no watchdog");
}

static void
test_activation_count(void)
{
	ok(evapi_activation_count("42", "1", 42) == 1, "one socket for us");
	ok(evapi_activation_count("41", "1", 42) == 0,
	   "LISTEN_PID of another process: none");
	ok(evapi_activation_count(NULL, "1", 42) == 0 &&
		   evapi_activation_count("42", NULL, 42) == 0,
	   "either variable unset: none");
	ok(evapi_activation_count("42", "x", 42) == -1 &&
		   evapi_activation_count("4x", "1", 42) == -1 &&
		   evapi_activation_count("42", "65", 42) == -1,
	   "malformed or absurd: -1");
}

static void
test_activation_pick(void)
{
	int m, p;

	ok(evapi_activation_pick(0, NULL, &m, &p) == EVAPI_OK && m == -1 &&
		   p == -1,
	   "no sockets");
	ok(evapi_activation_pick(1, NULL, &m, &p) == EVAPI_OK && m == 0 &&
		   p == -1,
	   "one socket: PORT's");
	ok(evapi_activation_pick(2, NULL, &m, &p) == EVAPI_OK && m == 0 &&
		   p == 1,
	   "two unnamed: PORT's, then PROBE_PORT's");
	ok(evapi_activation_pick(2, "probe:http", &m, &p) == EVAPI_OK &&
		   m == 1 && p == 0,
	   "named: probe first");
	ok(evapi_activation_pick(1, "probe", &m, &p) == EVAPI_ERR,
	   "a probe socket alone is refused");
	ok(evapi_activation_pick(2, "http:web", &m, &p) == EVAPI_ERR,
	   "two main sockets are refused");
	ok(evapi_activation_pick(3, NULL, &m, &p) == EVAPI_ERR,
	   "three sockets are refused");
	ok(evapi_activation_pick(2, "probex:http", &m, &p) == EVAPI_ERR,
	   "only the exact name probe counts");
}

static void
test_all_beat(void)
{
	unsigned long seen[3] = {0, 0, 0};
	unsigned long now[3] = {1, 1, 0};

	ok(!evapi_watchdog_all_beat(now, seen, 3),
	   "one loop did not beat: no ping");
	ok(seen[0] == 0, "... and the last counts stay");
	now[2] = 4;
	ok(evapi_watchdog_all_beat(now, seen, 3), "every loop beat: ping");
	ok(seen[2] == 4, "... counts taken");
	ok(!evapi_watchdog_all_beat(now, seen, 3),
	   "no beat since the last ping: no ping");
	now[0] = now[1] = now[2] = 5;
	ok(evapi_watchdog_all_beat(now, seen, 3), "beats again: ping");
}

int
main(void)
{
	test_notify_addr();
	test_watchdog_usec();
	test_activation_count();
	test_activation_pick();
	test_all_beat();
	return tap_done();
}
