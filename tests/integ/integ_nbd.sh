#!/bin/bash
# SPDX-License-Identifier: MIT
#
# integ_nbd.sh - NBD volumes (daemon/backend/nbd.c) against real servers
# this test starts and stops: nbdkit (memory and file plugins, the delay and
# error filters) and qemu-storage-daemon's NBD export. Claims:
#   - allow_nbd confines NBD volumes: no pattern, a URI outside the
#     patterns, TLS URIs and malformed URIs are refused with a clear error,
#     before any connection;
#   - verified I/O (pvfs-bench --verify: every read checked) through pvfsd
#     on nbd+unix:// and nbd:// (multi-conn: several connections) volumes,
#     nbdkit and qemu-storage-daemon; the data lands in the server's file;
#   - a tenant moved between pollers under verified load takes its
#     connections' watches along: no error;
#   - a slow server (delay filter) only slows its tenant; a server that
#     stops answering gives EIO after nbd_timeout, not a hang; a failing
#     server (error filter) gives the guest EIO, never a BROKEN tenant;
#   - the server killed and restarted under verified load: a stall, no
#     error, no lost write, reconnects counted in pvfsctl stats and metrics;
#   - the server down past nbd_timeout: EIO, the tenant stays RUNNING and
#     goes on with verified I/O once the server is back;
#   - pvfsd restarted while the server is down keeps the tenant (its
#     geometry is in the state file) and serves it once the server is back;
#   - a forced detach does not wait for a dead server.
# About 40 s. Exit 0 pass, 1 fail, 77 skip (nbdkit or qemu-storage-daemon
# missing: scripts/install-deps installs them).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integ/integ-lib.sh
. "$HERE/integ-lib.sh"

need_built pvfsd pvfsctl pvfs-bench
need_cmd nbdkit "nbdkit not installed (scripts/install-deps)"
need_cmd qemu-storage-daemon "qemu-storage-daemon not installed (scripts/install-deps)"
nbdkit --dump-plugin memory > /dev/null 2>&1 || skip "nbdkit's memory plugin is missing"
need_cmd python3

integ_dir integ_nbd

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port_up() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
# server_unix SOCK ARGS...: nbdkit in the foreground on a Unix socket.
server_unix() {
	local sock=$1
	shift
	rm -f "$sock"
	nbdkit -f --unix "$sock" "$@" 2>> "$D/server.log" &
	SRV=$!
	wait_for sock_up "$sock" || { notok "nbdkit $* did not start"; cat "$D/server.log"; exit 1; }
}
stop_server() { stop_pid "$SRV"; SRV=; }
# bench NAME ARGS...: pvfs-bench through pvfsd, output in $D/bench.out; its exit status.
bench() {
	local name=$1
	shift
	wait_for unplugged "$name" || { notok "$name did not unplug"; return 1; }
	timeout 120 "$BENCH" --tenant "$name" -q "$@" > "$D/bench.out" 2>&1
}
verified() { grep -q "verify: [1-9][0-9]* block(s) checked, 0 error(s)" "$D/bench.out"; }
# refused URI RE [NAME]: attaching URI (as tenant NAME, default bad) fails
# with an error matching RE; the error in $out.
refused() {
	out=$("$PVFSCTL" attach "${3:-bad}" --volume "$1" 2>&1)
	[ $? -ne 0 ] && grep -q -- "$2" <<<"$out"
}
# read_eio NAME MAX: two reads of NAME fail with EIO within 2.5-MAX s (the
# time taken in $took).
read_eio() {
	local t0
	t0=$(date +%s.%N)
	bench "$1" --rw read --bs 4k --iodepth 2 --ios 2
	took=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
	grep -q "Input/output error" "$D/bench.out" &&
		python3 -c "import sys; sys.exit(not (2.5 <= $took <= $2))"
}

MPORT=$(free_port)

# ---- confinement ----
start_pvfsd --metrics-listen "127.0.0.1:$MPORT"
if refused "nbd+unix:///?socket=$D/none.sock" allow_nbd n0; then
	ok "no allow_nbd: NBD volumes refused ($out)"
else
	notok "no allow_nbd: attach was not refused clearly: $out"
fi
stop_pid "$PID"
NBD_ARGS=(--metrics-listen "127.0.0.1:$MPORT" --allow-nbd 'nbd+unix://*'
	  --allow-nbd 'nbd://127.0.0.1:*/*' --nbd-timeout 3 --io-threads 2 --rebalance no)
start_pvfsd "${NBD_ARGS[@]}"
for bad in "nbd://10.99.0.1/x|matches no allow_nbd" "nbds://127.0.0.1/x|TLS" \
	   "nbd+unix:///x|socket=PATH" "nbd+unix://host/x?socket=/s|no host" \
	   "nbd://127.0.0.1:99999/x|bad port" "nbd://u@127.0.0.1:1/x|user names"; do
	uri=${bad%%|*} re=${bad#*|}
	if refused "$uri" "$re"; then
		ok "refused $uri"
	else
		notok "attach $uri: expected an error matching '$re', got: $out"
	fi
done
if refused "nbd+unix:///x?socket=$D/nobody.sock" "cannot connect"; then
	ok "no server: attach fails clearly"
else
	notok "attach to a missing server: $out"
fi

# ---- nbdkit memory over a Unix socket: verified I/O ----
server_unix "$D/mem.sock" memory 64M
"$PVFSCTL" attach m1 --volume "nbd+unix:///?socket=$D/mem.sock" > /dev/null ||
	notok "attach nbd+unix memory"
if bench m1 --rw randrw --bs 4k --iodepth 16 --runtime 2 --verify && verified; then
	ok "nbd+unix (nbdkit memory): verified randrw $(grep -o '[0-9]* IOPS' "$D/bench.out")"
else
	notok "nbd+unix verified randrw: $(cat "$D/bench.out")"
fi
st=$(tfield m1 "t['backend']['kind'], t['backend']['state'], t['backend']['domain']")
if [ "$st" = "nbd connected nbd:unix:$D/mem.sock" ]; then
	ok "stats: backend nbd connected, domain nbd:unix:PATH"
else
	notok "stats backend: $st"
fi
"$PVFSCTL" detach m1 > /dev/null || notok "detach m1"
stop_server

# ---- moved between pollers under verified load: its sockets move with it ----
server_unix "$D/mv.sock" memory 64M
"$PVFSCTL" attach mv1 --volume "nbd+unix:///?socket=$D/mv.sock" > /dev/null
timeout 120 "$BENCH" --tenant mv1 -q --rw randrw --bs 4k --iodepth 16 --runtime 4 --verify \
	> "$D/bench.out" 2>&1 &
BG=$!
moved=0
for i in 1 2 3 4 5 6; do
	sleep 0.4
	"$PVFSCTL" move mv1 --poller $((i % 2)) > /dev/null 2>&1 && moved=$((moved + 1))
done
wait "$BG"; rc=$?; BG=
if [ $rc -eq 0 ] && verified && [ "$moved" -ge 2 ] && [ "$(tfield mv1 "t['moves']")" -ge 2 ]; then
	ok "moved $moved times between pollers under verified load: no error"
else
	notok "moves under load: rc $rc, $moved move(s): $(cat "$D/bench.out")"
fi
"$PVFSCTL" detach mv1 > /dev/null
stop_server

# ---- nbdkit memory over TCP: multi-conn ----
PORT=$(free_port)
nbdkit -f -i 127.0.0.1 -p "$PORT" memory 64M 2>> "$D/server.log" &
SRV=$!
wait_for port_up "$PORT" || notok "nbdkit on TCP did not start"
"$PVFSCTL" attach t1 --volume "nbd://127.0.0.1:$PORT/" > /dev/null || notok "attach nbd:// TCP"
# A fresh export: pvfs-bench --verify checks block sizes against what it wrote before.
if bench t1 --rw randrw --bs 64k --seg-size 4k --iodepth 16 --runtime 2 --verify && verified; then
	ok "nbd:// (TCP): verified randrw, 64 KiB in 4 KiB segments, $(grep -o '[0-9]* IOPS' "$D/bench.out")"
else
	notok "nbd:// verified randrw: $(cat "$D/bench.out")"
fi
conns=$(tfield t1 "t['backend']['connections']")
if [ "$conns" -gt 1 ]; then ok "multi-conn: $conns connections"; else notok "multi-conn: $conns connection(s)"; fi
"$PVFSCTL" detach t1 > /dev/null
stop_server

# ---- qemu-storage-daemon's NBD export of a raw file ----
truncate -s 64M "$D/qsd.img"
qemu-storage-daemon --blockdev "driver=file,node-name=f,filename=$D/qsd.img,cache.direct=off" \
	--nbd-server "addr.type=unix,addr.path=$D/qsd.sock" \
	--export "type=nbd,id=e0,node-name=f,name=vol,writable=on" 2>> "$D/server.log" &
SRV=$!
wait_for sock_up "$D/qsd.sock" || notok "qemu-storage-daemon did not start"
"$PVFSCTL" attach q1 --volume "nbd+unix:///vol?socket=$D/qsd.sock" > /dev/null ||
	notok "attach qemu-storage-daemon export"
if bench q1 --rw randrw --bs 4k --iodepth 16 --runtime 2 --verify --seed 7 && verified; then
	ok "qemu-storage-daemon: verified randrw $(grep -o '[0-9]* IOPS' "$D/bench.out")"
else
	notok "qemu-storage-daemon verified randrw: $(cat "$D/bench.out")"
fi
"$PVFSCTL" detach q1 > /dev/null
stop_server
# The writes went through to the server's file.
if cmp -s -n 67108864 "$D/qsd.img" /dev/zero; then
	notok "qemu-storage-daemon's file is still all zeroes"
else
	ok "the data is in qemu-storage-daemon's file"
fi

# ---- a slow server (delay filter) ----
server_unix "$D/slow.sock" --filter=delay memory 64M rdelay=30ms wdelay=30ms
"$PVFSCTL" attach s1 --volume "nbd+unix:///?socket=$D/slow.sock" > /dev/null
if bench s1 --rw randrw --bs 4k --iodepth 4 --ios 80 --verify && verified; then
	p50=$(tfield s1 "int(t['ops']['read']['latency_us']['p50'])")
	if [ "$p50" -ge 25000 ]; then
		ok "delay filter: verified I/O, read p50 ${p50} us"
	else
		notok "delay filter: read p50 $p50 us, expected >= 30 ms"
	fi
else
	notok "delay filter: $(cat "$D/bench.out")"
fi
"$PVFSCTL" detach s1 > /dev/null
stop_server

# ---- a server that stops answering (a read takes 60 s): EIO after nbd_timeout ----
server_unix "$D/hung.sock" --filter=delay memory 64M rdelay=60
"$PVFSCTL" attach h1 --volume "nbd+unix:///?socket=$D/hung.sock" > /dev/null
if read_eio h1 15; then
	ok "hung server: EIO after ${took} s (nbd_timeout 3 s), no hang"
else
	notok "hung server: took $took s: $(cat "$D/bench.out")"
fi
"$PVFSCTL" detach h1 > /dev/null || notok "detach h1 after a hung server"
stop_server

# ---- a failing server (error filter): EIO, never BROKEN ----
server_unix "$D/err.sock" --filter=error memory 64M error=EIO error-pwrite-rate=100%
"$PVFSCTL" attach e1 --volume "nbd+unix:///?socket=$D/err.sock" > /dev/null
bench e1 --rw write --bs 4k --iodepth 4 --ios 20
werr=$(tfield e1 "t['ops']['write']['errors']")
if grep -q "I/O errors: 20 (first: .*Input/output error" "$D/bench.out" && [ "$werr" = 20 ]; then
	ok "error filter: 20 writes failed with EIO"
else
	notok "error filter: write errors $werr: $(cat "$D/bench.out")"
fi
if bench e1 --rw read --bs 4k --iodepth 4 --ios 20 && ! grep -q "marked broken" "$D/pvfsd.log"; then
	ok "error filter: reads still work, tenant not broken"
else
	notok "error filter: reads after write errors: $(cat "$D/bench.out")"
fi
"$PVFSCTL" detach e1 > /dev/null
stop_server

# ---- kill and restart the server under verified load ----
truncate -s 64M "$D/disk.img"
server_unix "$D/file.sock" file "$D/disk.img"
"$PVFSCTL" attach k1 --volume "nbd+unix:///?socket=$D/file.sock" > /dev/null
wait_for unplugged k1
timeout 120 "$BENCH" --tenant k1 -q --rw randrw --bs 4k --iodepth 16 --runtime 6 --verify \
	> "$D/bench.out" 2>&1 &
BG=$!
sleep 1.5
kill -KILL "$SRV"; wait "$SRV" 2>/dev/null; SRV=
sleep 1.5
server_unix "$D/file.sock" file "$D/disk.img"
wait "$BG"; rc=$?; BG=
reconnects=$(tfield k1 "t['backend']['reconnects']")
errors=$(tfield k1 "t['ops']['read']['errors'] + t['ops']['write']['errors']")
if [ $rc -eq 0 ] && verified && [ "$errors" = 0 ] && [ "$reconnects" -ge 1 ]; then
	ok "server killed and restarted under verified load: no error, $reconnects reconnect(s), $(grep -o 'p99.9 [0-9.]*' "$D/bench.out") us"
else
	notok "kill/restart under load: rc $rc errors $errors reconnects $reconnects: $(cat "$D/bench.out")"
fi
# Every block written before the kill reads back (a second pass, same seed).
if bench k1 --rw randread --bs 4k --iodepth 16 --runtime 1 --verify && ! grep -q "verify: .* [1-9][0-9]* error" "$D/bench.out"; then
	ok "no lost write: a verified read pass after the restart"
else
	notok "read pass after restart: $(cat "$D/bench.out")"
fi
if curl -s "http://127.0.0.1:$MPORT/metrics" | grep -q "^pvfs_backend_reconnects_total{tenant=\"k1\"[^}]*} [1-9]"; then
	ok "metrics: pvfs_backend_reconnects_total counts the reconnect"
else
	notok "metrics: no pvfs_backend_reconnects_total for k1: $(curl -s "http://127.0.0.1:$MPORT/metrics" | grep pvfs_backend)"
fi

# ---- down past nbd_timeout (3 s): EIO, then the tenant goes on ----
stop_server
if read_eio k1 10; then
	ok "server down past nbd_timeout: EIO after ${took} s"
else
	notok "past the timeout: took $took s: $(cat "$D/bench.out")"
fi
st=$(tfield k1 "t['backend']['state']")
[ "$st" = reconnecting ] && ok "stats: backend state reconnecting" || notok "stats: backend state $st"
server_unix "$D/file.sock" file "$D/disk.img"
if bench k1 --rw randrw --bs 4k --iodepth 8 --runtime 1 --verify && verified &&
   ! grep -q "marked broken" "$D/pvfsd.log"; then
	ok "server back: the tenant goes on with verified I/O, never broken"
else
	notok "after the server came back: $(cat "$D/bench.out")"
fi

# ---- pvfsd restarted while the server is down: restored, waits, goes on ----
stop_server
stop_pid "$PID"
start_pvfsd "${NBD_ARGS[@]}"
st=$(tfield k1 "t['state'], t['backend']['state'], t['capacity']" 2>&1)
if [ "$st" = "unplugged reconnecting 67108864" ]; then
	ok "pvfsd restarted while the server is down: k1 restored from the state file"
else
	notok "k1 after a restart with the server down: $st"
fi
server_unix "$D/file.sock" file "$D/disk.img"
if bench k1 --rw randread --bs 4k --iodepth 8 --runtime 1 --verify &&
   ! grep -q "verify: .* [1-9][0-9]* error" "$D/bench.out" &&
   [ "$(tfield k1 "t['backend']['state']")" = connected ]; then
	ok "server back after the restart: verified reads of the blocks written before"
else
	notok "reads after the restart: $(cat "$D/bench.out")"
fi

# ---- a forced detach while requests wait for a dead server: at once ----
stop_server
timeout 60 "$BENCH" --tenant k1 -q --rw randread --bs 4k --iodepth 8 --runtime 20 \
	> "$D/bench.out" 2>&1 &
BG=$!
queued() { [ "$(tfield k1 "t['backend']['queue_depth']")" -gt 0 ] 2>/dev/null; }
wait_for queued || notok "no request waited for the dead server"
t0=$(date +%s.%N)
"$PVFSCTL" detach --force k1 > /dev/null || notok "forced detach of k1"
took=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
wait "$BG"; BG=
if python3 -c "import sys; sys.exit(not ($took < 2.5))"; then
	ok "forced detach with requests waiting for a dead server: ${took} s (nbd_timeout 3 s)"
else
	notok "forced detach took $took s"
fi

if [ $fail = 0 ]; then echo "integ_nbd: all passed"; else echo "--- pvfsd.log"; tail -30 "$D/pvfsd.log"; fi
exit $fail
