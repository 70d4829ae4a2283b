/* SPDX-License-Identifier: MIT */
/*
 * test_nbd_uri - the NBD backend accepts exactly the URIs it can serve
 * (nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH) and refuses the
 * rest with the errno CONTROL.md names: TLS -EPROTONOSUPPORT, anything
 * malformed (user names, stray parameters, bad ports, relative sockets,
 * broken percent-escapes) -EINVAL, before any connection is tried.
 */
#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "tlib.h"

static int check(const char *uri)
{
	char err[512] = "";
	int r = nbd_uri_check(uri, err, sizeof(err));

	if (r < 0 && !strstr(err, "volume") && !strstr(err, "NBD"))
		return -1000;	/* an error without a message */
	return r;
}

int main(void)
{
	static const char *const good[] = {
		"nbd://127.0.0.1/vol", "nbd://127.0.0.1:10810/vol", "nbd://host.example/",
		"nbd://host.example", "nbd://[::1]:10809/a%20b", "nbd://10.0.0.5/exp/with/slashes",
		"nbd+unix:///?socket=/run/nbd.sock", "nbd+unix:///vol?socket=/run/nbd%20x.sock",
	};
	static const char *const bad[] = {
		"nbd://", "nbd://:10809/x", "nbd://h:0/x", "nbd://h:65536/x", "nbd://h:12ab/x",
		"nbd://user@h/x", "nbd://h/x?tls=off", "nbd://h/x#frag", "nbd://[::1/x",
		"nbd://h/a%2", "nbd://h/a%zz", "nbd://h/a%00b", "nbd+unix:///x",
		"nbd+unix:///x?socket=rel.sock", "nbd+unix://host/x?socket=/s",
		"nbd+unix:///x?socket=/s&tls=on", "nbd+unix:///x?sockets=/s", "file:///x", "rbd:p/i",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		TL_CHECK(check(good[i]) == 0, "accepted: %s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		TL_CHECK(check(bad[i]) == -EINVAL, "refused with EINVAL and a message: %s", bad[i]);
	TL_CHECK(check("nbds://h/x") == -EPROTONOSUPPORT, "TLS refused as unsupported");
	TL_CHECK(check("nbds+unix:///x?socket=/s") == -EPROTONOSUPPORT,
		 "TLS over a Unix socket refused as unsupported");
	return tl_done();
}
