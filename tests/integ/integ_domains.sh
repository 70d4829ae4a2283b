#!/bin/bash
# SPDX-License-Identifier: MIT
#
# integ_domains.sh - scheduling domains and cost models on a real pvfsd with
# two pollers (docs/qos.md "Domains"): tenants whose volumes are on one file
# system are one domain, named after the disk it is on (the key pvfsd shows
# is the one computed here from stat and sysfs); verified I/O of two tenants
# on the two pollers of that domain is counted in the domain; `pvfsctl
# calibrate` measures the device, refuses a directory on another device,
# stores the model in the state file (it survives a restart) and `--fixed`
# forgets it; set_cost_model refuses bad input and pvfsd still answers.
# About 10 s. Exit 0 pass, 1 fail, 77 skip (no build, no python3, no io_uring).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${PVFS_BUILD:-${BUILD:-build}}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PVFSD=$BUILD/bin/pvfsd
PVFSCTL=$BUILD/bin/pvfsctl
BENCH=$BUILD/bin/pvfs-bench

skip() { echo "skip - $*"; exit 77; }
[ -x "$PVFSD" ] && [ -x "$PVFSCTL" ] && [ -x "$BENCH" ] || skip "pvfsd, pvfsctl or pvfs-bench not built (run make)"
PYTHON=$(command -v python3) || skip "python3 not found"

D=$(mktemp -d /tmp/integ_domains.XXXXXX) || exit 1
PID=
stop_daemon() {
	[ -n "$PID" ] || return 0
	kill -TERM "$PID" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$PID" 2>/dev/null && { echo "# pvfsd did not stop on SIGTERM; killing it"; kill -KILL "$PID"; }
	wait "$PID" 2>/dev/null
	PID=
}
cleanup() {
	stop_daemon
	rm -rf "$D"
}
trap cleanup EXIT

PASS=0
FAIL=0
check() { if [ "$1" = 0 ]; then echo "ok - $2"; PASS=$((PASS + 1)); else echo "not ok - $2"; FAIL=$((FAIL + 1)); fi; }

export PVFS_SOCKET=$D/run/control.sock
start_daemon() {
	"$PVFSD" --runtime-dir "$D/run" --volume-dir "$D/vols" --metrics-listen none \
		--io-threads 2 "$@" 2>> "$D/pvfsd.log" &
	PID=$!
	for _ in $(seq 100); do
		"$PVFSCTL" version > /dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	grep -q "io_uring" "$D/pvfsd.log" && skip "pvfsd cannot start: $(tail -1 "$D/pvfsd.log")"
	echo "not ok - pvfsd did not start: $(tail -3 "$D/pvfsd.log")"
	exit 1
}

# js EXPR: evaluate a Python expression on `pvfsctl --json stats` (as s).
js() {
	"$PVFSCTL" --json stats | "$PYTHON" -c "import json, sys; s = json.load(sys.stdin); print($1)"
}

mkdir -p "$D/vols" "$D/run"
for t in t1 t2 t3; do truncate -s 64M "$D/vols/$t.img"; done
# The key pvfsd must give them: the disk the volume directory's file system is on.
KEY=$("$PYTHON" - "$D/vols" <<'EOF'
import os, sys
dev = os.stat(sys.argv[1]).st_dev
ma, mi = os.major(dev), os.minor(dev)
base = f"/sys/dev/block/{ma}:{mi}"
if os.path.exists(base + "/partition"):
    try:
        ma, mi = map(int, open(base + "/../dev").read().split(":"))
    except OSError:
        pass
print(f"dev:{ma}:{mi}")
EOF
)

start_daemon
for t in t1 t2 t3; do "$PVFSCTL" attach "$t" --volume "$t.img" > /dev/null || check 1 "attach $t"; done
check "$([ "$(js 'len(s["domains"])')" = 1 ] && echo 0)" "three volumes in one directory are one domain"
check "$([ "$(js 's["domains"][0]["domain"]')" = "$KEY" ] && echo 0)" "its key is the disk's, $KEY"
check "$([ "$(js 'sorted({t["domain"] for t in s["tenants"]}) == [s["domains"][0]["domain"]] and s["domains"][0]["tenants"] == 3')" = True ] && echo 0)" \
	"every tenant names it, and it counts 3 tenants"
check "$([ "$(js 's["domains"][0]["calibrated"]')" = False ] && echo 0)" "a new domain has the fixed cost model"

# Two tenants on the two pollers, data verified, counted in their domain.
"$BENCH" -T t1 --rw randrw --verify --iodepth 16 --runtime 1 -q > "$D/b1" 2>&1 &
B1=$!
"$BENCH" -T t2 --rw randrw --verify --seed 2 --iodepth 16 --runtime 1 -q > "$D/b2" 2>&1
R2=$?
wait "$B1"
R1=$?
check "$([ "$R1$R2" = 00 ] && echo 0)" "verified I/O of two tenants on two pollers of one domain (rc $R1 $R2)"
check "$([ "$(js 's["domains"][0]["ops"] == sum(sum(o["ops"] for o in t["ops"].values()) for t in s["tenants"]) > 0 and s["domains"][0]["inflight"] == 0')" = True ] && echo 0)" \
	"the domain counts its tenants' requests, none left in flight"

"$PVFSCTL" calibrate dev:1:2 --dir "$D/vols" > /dev/null 2> "$D/err"
R=$?
check "$([ $R = 1 ] && grep -q "is on domain $KEY, not dev:1:2" "$D/err" && echo 0)" \
	"calibrate refuses a directory on another device: $(cat "$D/err")"
"$PVFSCTL" calibrate "$KEY" > /dev/null 2> "$D/err"
check "$([ $? = 1 ] && echo 0)" "calibrate without --dir or --fixed is a usage error"
"$PVFSCTL" calibrate "$KEY" --dir "$D/vols" --seconds 1 --size 16M > "$D/cal" 2>&1
check "$?" "calibrate $KEY: $(tail -1 "$D/cal")"
check "$([ "$(js 's["domains"][0]["calibrated"] and all(v > 0 for k, v in s["domains"][0]["cost_model"].items() if k.endswith("byte_ps")) and s["domains"][0]["cost_model"]["read_rand_ns"] + s["domains"][0]["cost_model"]["read_byte_ps"] > 0')" = True ] && echo 0)" \
	"stats shows the measured model"
MODEL=$(js 's["domains"][0]["cost_model"]')
check "$([ "$(js 's["domains"][0]["cost_learning"]["on"] and set(s["domains"][0]["cost_learning"]["scale"].values()) == {1.0}')" = True ] && echo 0)" \
	"a calibrated domain learns online; nothing refitted yet, every class at scale 1"
"$PVFSCTL" stats > "$D/stats.txt"
check "$(grep -Eq "^$KEY .* (calibrated|learned \([0-9]+ refits\))\$" "$D/stats.txt" && echo 0)" \
	"pvfsctl stats names the domain's model: $(grep "^$KEY" "$D/stats.txt")"
ls "$D"/vols/.pvfs-calibrate.* > /dev/null 2>&1
check "$([ $? != 0 ] && echo 0)" "the scratch file is gone"

stop_daemon
start_daemon
check "$([ "$(js 's["domains"][0]["calibrated"]')" = True ] && [ "$(js 's["domains"][0]["cost_model"]')" = "$MODEL" ] && echo 0)" \
	"the model survives a restart (state file)"
stop_daemon
"$PVFSD" --runtime-dir "$D/run2" --volume-dir "$D/vols" --metrics-listen none --slot-shares bogus \
	> /dev/null 2> "$D/err"
check "$([ $? != 0 ] && grep -q "slot" "$D/err" && echo 0)" "--slot-shares bogus is refused: $(head -1 "$D/err")"
start_daemon --cost-learning no --slot-shares cost
check "$([ "$(js 's["domains"][0]["calibrated"] and not s["domains"][0]["cost_learning"]["on"]')" = True ] && echo 0)" \
	"pvfsd --cost-learning no: calibrated, not refined"
"$BENCH" -T t1 --rw randrw --verify --iodepth 16 --runtime 1 -q > "$D/b1" 2>&1 &
B1=$!
# A fresh volume: pvfs-bench verifies what earlier runs wrote, in its own block size.
truncate -s 64M "$D/vols/t4.img"
"$PVFSCTL" attach t4 --volume t4.img > /dev/null || check 1 "attach t4"
"$BENCH" -T t4 --rw randrw --verify --seed 2 --bs 64k --iodepth 16 --runtime 1 -q > "$D/b2" 2>&1
R2=$?
wait "$B1"
R1=$?
check "$([ "$R1$R2" = 00 ] && echo 0)" \
	"--slot-shares cost: verified I/O of two tenants of different sizes (rc $R1 $R2: $(tail -n 1 "$D/b1") $(tail -n 1 "$D/b2"))"
"$PVFSCTL" calibrate "$KEY" --fixed > /dev/null
check "$?" "calibrate --fixed"
stop_daemon
start_daemon
check "$([ "$(js 's["domains"][0]["calibrated"] or s["domains"][0]["cost_learning"]["on"]')" = False ] && echo 0)" \
	"--fixed is kept across a restart too, and the fixed model is not refined"

# Hostile set_cost_model calls: refused, and pvfsd still answers.
"$PYTHON" - "$PVFS_SOCKET" "$KEY" <<'EOF'
import json, socket, sys
sock, key = sys.argv[1], sys.argv[2]
good = {"read_seq_ns": 1, "read_rand_ns": 1, "read_byte_ps": 1, "write_seq_ns": 1,
        "write_rand_ns": 1, "write_byte_ps": 1, "flush_ns": 1}
def call(params, i):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(sock)
    s.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "set_cost_model",
                       "params": params}).encode())
    return json.loads(s.recv(70000))
cases = [
    ("a negative coefficient", {"domain": key, "cost_model": dict(good, read_rand_ns=-1)}),
    ("a coefficient out of range", {"domain": key, "cost_model": dict(good, write_byte_ps=10**7)}),
    ("a missing member", {"domain": key, "cost_model": {"read_seq_ns": 1}}),
    ("an unknown member", {"domain": key, "cost_model": dict(good, extra=1)}),
    ("a model that is not an object", {"domain": key, "cost_model": 5}),
    ("a domain key of 200 bytes", {"domain": "x" * 200, "cost_model": good}),
    ("an empty domain key", {"domain": "", "cost_model": good}),
    ("a domain no tenant is on", {"domain": "dev:1:2", "cost_model": good}),
]
bad = 0
for i, (what, params) in enumerate(cases):
    r = call(params, i + 1)
    bad += "error" not in r
    print(("ok" if "error" in r else "not ok") + f" - set_cost_model refuses {what}: " +
          r.get("error", {}).get("message", "accepted"))
r = call({"domain": key, "cost_model": {k: 0 for k in good}}, 99)
bad += "result" not in r
print(("ok" if "result" in r else "not ok") + " - pvfsd still answers set_cost_model")
sys.exit(1 if bad else 0)
EOF
[ $? = 0 ] || check 1 "every raw JSON-RPC check"

echo "# $PASS passed, $FAIL failed (shell checks)"
[ "$FAIL" = 0 ]
