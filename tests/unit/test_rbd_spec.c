/* SPDX-License-Identifier: MIT */
/*
 * test_rbd_spec - rbd_spec_parse (daemon/backend/rbd.c) takes exactly
 * rbd:POOL/IMAGE[@SNAP] with names Ceph would take, and nothing that could
 * smuggle a separator, a space, a control character or an over-long name
 * past the pool confinement (allow_rbd_pools compares the parsed pool).
 */
#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "tlib.h"

int main(void)
{
	static const char *const bad[] = {
		"", "rbd:", "rbd:pool", "rbd:/img", "rbd:pool/", "rbd:pool/img@", "rbd:@x/img",
		"rbd:pool/a/b", "rbd:pool/img@s@t", "rbd:po ol/img", "rbd:pool/im\tg",
		"rbd:pool/img@s\n", "RBD:pool/img", "nbd://pool/img", "rbd:pool/img\x7f",
		"rbd:pool@s/img",
	};
	struct rbd_spec s;
	char big[600];

	TL_CHECK(rbd_spec_parse("rbd:vms/vm9", &s) == 0 && !strcmp(s.pool, "vms") &&
		 !strcmp(s.image, "vm9") && !s.snap[0], "rbd:vms/vm9");
	TL_CHECK(rbd_spec_parse("rbd:vms/base@v3", &s) == 0 && !strcmp(s.pool, "vms") &&
		 !strcmp(s.image, "base") && !strcmp(s.snap, "v3"), "rbd:vms/base@v3: a snapshot");
	TL_CHECK(rbd_spec_parse("rbd:a.b-c_d/img.raw", &s) == 0 && !strcmp(s.pool, "a.b-c_d"),
		 "dots, dashes and underscores are names");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		TL_CHECK(rbd_spec_parse(bad[i], &s) == -EINVAL, "refused: \"%s\"", bad[i]);
	memset(big, 'x', sizeof(big));
	memcpy(big, "rbd:p/", 6);
	big[6 + RBD_NAME_MAX] = '\0';
	TL_CHECK(rbd_spec_parse(big, &s) == 0 && strlen(s.image) == RBD_NAME_MAX,
		 "an image name of RBD_NAME_MAX characters fits");
	big[6 + RBD_NAME_MAX] = 'x';
	big[7 + RBD_NAME_MAX] = '\0';
	TL_CHECK(rbd_spec_parse(big, &s) == -EINVAL, "one more is refused");
	return tl_done();
}
