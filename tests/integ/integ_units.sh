#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# integ_units - the shipped systemd units and config: `systemd-analyze
# verify` passes on pvfsd.service, pvfsd.socket and an instance of
# pvfs-shim@.service (ExecStart pointed at this build), the example config
# parses (pvfsd starts with it, with its paths redirected to a temporary
# directory), and the tmpfiles/sysusers snippets have the syntax their
# tools expect.
set -u
# shellcheck source=tests/integ/integ-lib.sh
. "$(dirname "$0")/integ-lib.sh"

command -v systemd-analyze > /dev/null || { echo "SKIP: systemd-analyze missing (package systemd)"; exit 77; }
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$T"' EXIT

sed "s|/usr/sbin/pvfsd|$BUILD/bin/pvfsd|" "$ROOT/etc/pvfsd.service" > "$T/pvfsd.service"
cp "$ROOT/etc/pvfsd.socket" "$T/"
if out=$(systemd-analyze verify --man=no "$T/pvfsd.service" "$T/pvfsd.socket" 2>&1); then
	ok "systemd-analyze verify pvfsd.service pvfsd.socket"
else
	notok "systemd-analyze verify: $out"
fi
# The template unit, as an instance (systemd-analyze verifies instances only).
sed "s|/usr/bin/pvfs-shim|$BUILD/bin/pvfs-shim|" "$ROOT/etc/pvfs-shim@.service" > "$T/pvfs-shim@vm1.service"
if out=$(systemd-analyze verify --man=no "$T/pvfs-shim@vm1.service" 2>&1); then
	ok "systemd-analyze verify pvfs-shim@vm1.service"
else
	notok "systemd-analyze verify pvfs-shim@vm1.service: $out"
fi
grep -q '^Type=notify' "$ROOT/etc/pvfsd.service" && grep -q '^WatchdogSec=' "$ROOT/etc/pvfsd.service" &&
	ok "service is Type=notify with a watchdog" || notok "service type/watchdog"
grep -q '^ListenSequentialPacket=/run/pvfsd/control.sock' "$ROOT/etc/pvfsd.socket" &&
	ok "socket unit listens where pvfsd's default socket is" || notok "socket path"

# The example config, with its absolute paths moved into $T.
mkdir -p "$T/vols" "$T/run"
sed -e "s|^volume_dir = .*|volume_dir = $T/vols|" -e "s|^admin_group = .*|admin_group = root|" \
	-e "s|^metrics_listen = .*|metrics_listen = none|" "$ROOT/etc/pvfsd.conf" > "$T/pvfsd.conf"
"$BUILD/bin/pvfsd" --config "$T/pvfsd.conf" --runtime-dir "$T/run" 2> "$T/log" &
PID=$!
up=0
for _ in $(seq 100); do
	"$BUILD/bin/pvfsctl" -s "$T/run/control.sock" version > /dev/null 2>&1 && { up=1; break; }
	kill -0 $PID 2>/dev/null || break
	sleep 0.1
done
[ $up = 1 ] && ok "pvfsd starts with the example config" || { notok "pvfsd with example config: $(cat "$T/log")"; }
[ "$(stat -c %a "$T/run/control.sock" 2>/dev/null)" = 660 ] && ok "control socket mode 0660" ||
	notok "control socket mode $(stat -c %a "$T/run/control.sock" 2>&1)"
# Reload with another admin group: the socket's group must follow.
sed -i "s|^admin_group = .*|admin_group = nogroup|" "$T/pvfsd.conf"
kill -HUP $PID
reloaded=0
for _ in $(seq 50); do	# bounded wait for the log line
	grep -q "config reloaded" "$T/log" && { reloaded=1; break; }
	sleep 0.1
done
[ $reloaded = 1 ] && "$BUILD/bin/pvfsctl" -s "$T/run/control.sock" version > /dev/null &&
	ok "SIGHUP reloads the config and pvfsd keeps serving" || notok "SIGHUP reload: $(tail -3 "$T/log")"
[ "$(stat -c %G "$T/run/control.sock")" = nogroup ] && ok "SIGHUP: the socket's group follows admin_group" ||
	notok "socket group after reload: $(stat -c %G "$T/run/control.sock")"
kill -TERM $PID; wait $PID; rc=$?; PID=
[ $rc = 0 ] && ok "SIGTERM: exit 0" || notok "SIGTERM exit $rc"
echo 'bogus_key = 1' >> "$T/pvfsd.conf"
if "$BUILD/bin/pvfsd" --config "$T/pvfsd.conf" --runtime-dir "$T/run" 2> "$T/log2"; then
	notok "a config with an unknown key is refused"
else
	grep -q "unknown key bogus_key" "$T/log2" && ok "unknown config key refused with a clear error" ||
		notok "unknown key message: $(cat "$T/log2")"
fi

grep -Eq '^d /run/pvfsd ' "$ROOT/etc/pvfsd.tmpfiles" && ok "tmpfiles snippet creates /run/pvfsd" || notok tmpfiles
if command -v systemd-tmpfiles > /dev/null; then
	systemd-tmpfiles --root="$T/root" --create "$ROOT/etc/pvfsd.tmpfiles" > "$T/tmpf" 2>&1
	[ -d "$T/root/run/pvfsd" ] && [ -d "$T/root/var/lib/pvfsd" ] &&
		ok "systemd-tmpfiles --root creates the directories" || notok "systemd-tmpfiles: $(cat "$T/tmpf")"
fi
grep -Eq '^g pvfs ' "$ROOT/etc/pvfsd.sysusers" && ok "sysusers snippet creates group pvfs" || notok sysusers
[ $fail = 0 ]
