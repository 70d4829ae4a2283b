#!/bin/bash
# SPDX-License-Identifier: MIT
#
# integ_pvfsctl.sh - pvfsctl and pvfsd's control protocol end to end: starts
# its own pvfsd on a temporary runtime directory, runs every pvfsctl command
# (tables, --json, exit status, error messages), then speaks raw JSON-RPC to
# the socket from Python for what pvfsctl never sends: malformed and oversize
# packets, wrong types, unknown methods and fields, too many fds, wrong fds
# for plug, a plug's lifetime, and an unauthorized peer. After each bad input
# pvfsd must still answer. Prints "ok - ..." / "not ok - ..." per check.
# Exit 0 pass, 1 fail, 77 skip (no build, no python3, or io_uring disabled).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integ/integ-lib.sh
. "$HERE/integ-lib.sh"

need_built pvfsd pvfsctl
PYTHON=$(command -v python3) || skip "python3 not found"

D=$(mktemp -d /tmp/integ_pvfsctl.XXXXXX) || exit 1
PID=
stop_daemon() {
	# A clean stop drains every tenant; do not wait forever on a stuck one.
	stop_pid "$PID" pvfsd
	PID=
}
cleanup() {
	stop_daemon
	rm -rf "$D"
}
trap cleanup EXIT

# run CMD...: OUT, ERR and RC of one command.
run() {
	OUT=$("$@" 2>"$D/stderr")
	RC=$?
	ERR=$(cat "$D/stderr")
}

# expect_ok DESC CMD...: exit 0.
expect_ok() {
	local desc=$1
	shift
	run "$@"
	if [ "$RC" -eq 0 ]; then ok "$desc"; else notok "$desc (exit $RC: $ERR)"; fi
}

# expect_err DESC REGEX CMD...: exit 1 and stderr matching REGEX (grep -E).
expect_err() {
	local desc=$1 re=$2
	shift 2
	run "$@"
	if [ "$RC" -eq 1 ] && grep -Eq -- "$re" <<<"$ERR"; then
		ok "$desc"
	else
		notok "$desc (exit $RC, stderr: $ERR)"
	fi
}

# has DESC REGEX: the last OUT matches REGEX.
has() {
	if grep -Eq -- "$2" <<<"$OUT"; then ok "$1"; else notok "$1 (output: $OUT)"; fi
}

# json DESC PYEXPR: the last OUT is JSON and PYEXPR (over j) is true.
json() {
	if "$PYTHON" -c 'import json, sys; j = json.loads(sys.stdin.read()); sys.exit(0 if eval(sys.argv[1]) else 1)' \
		"$2" <<<"$OUT" 2>/dev/null; then
		ok "$1"
	else
		notok "$1 (output: $OUT)"
	fi
}

# ---- a pvfsd of our own ----

mkdir -p "$D/vols/sub" "$D/outside"
truncate -s 64M "$D/vols/a.img"
truncate -s 10G "$D/vols/b.img"
truncate -s 1M "$D/vols/c.img"
truncate -s 1M "$D/outside/secret.img"
ln -s ../outside/secret.img "$D/vols/link.img"
SOCK=$D/run/control.sock
ADMIN=()
# pvfsd lets in root and its admin group only.
[ "$(id -u)" -eq 0 ] || ADMIN=(--admin-group "$(id -gn)")

"$PVFSD" --runtime-dir "$D/run" --volume-dir "$D/vols" --metrics-listen none "${ADMIN[@]}" \
	--io-threads 2 --rebalance no >"$D/pvfsd.log" 2>&1 &
PID=$!
ready=0
for _ in $(seq 200); do	# at most 10 s
	if "$PVFSCTL" -s "$SOCK" version >/dev/null 2>&1; then
		ready=1
		break
	fi
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.05
done
if [ "$ready" -ne 1 ]; then
	if grep -q "io_uring" "$D/pvfsd.log"; then
		cat "$D/pvfsd.log"
		PID=
		skip "pvfsd cannot start its pollers here (io_uring disabled?)"
	fi
	cat "$D/pvfsd.log"
	notok "pvfsd answers version within 10 s"
	exit 1
fi
ok "pvfsd started and answers version"

P=("$PVFSCTL" -s "$SOCK")

# ---- help, version, usage ----

expect_ok "pvfsctl --help" "$PVFSCTL" --help
has "--help lists every command" "attach.*" && has "--help lists set-qos" "set-qos"
expect_ok "pvfsctl help attach" "$PVFSCTL" help attach
has "help attach shows its options" "--iops-reservation"
expect_ok "pvfsctl attach --help" "$PVFSCTL" attach --help
expect_ok "pvfsctl --version" "$PVFSCTL" --version
has "--version prints the client version" "^pvfsctl [0-9]"
expect_ok "pvfsctl version" "${P[@]}" version
has "version shows client and daemon" "pvfsd [0-9.]+ \(ring ABI [0-9]+"
expect_ok "pvfsctl --json version" "${P[@]}" --json version
json "version --json has the daemon's version and ABI" \
	'j["pvfsd"]["abi_version"] >= 1 and j["pvfsd"]["version"] and j["pvfsctl"]["version"]'
expect_err "unknown command" "unknown command 'frobnicate'" "${P[@]}" frobnicate
expect_err "help of an unknown command" "unknown command 'nope'" "$PVFSCTL" help nope
expect_err "no command is a usage error" "Usage:" "$PVFSCTL"
expect_err "unknown global option" "unknown option --bogus" "$PVFSCTL" --bogus list
expect_err "unknown command option" "unknown option --bogus" "${P[@]}" list --bogus
expect_err "no prefix matching of commands" "unknown command 'att'" "${P[@]}" att x
expect_err "non-existent socket" "^pvfsctl: pvfsd is not running at $D/nosuch.sock$" \
	"$PVFSCTL" -s "$D/nosuch.sock" list
expect_err "PVFS_SOCKET is used" "pvfsd is not running at $D/env.sock" \
	env PVFS_SOCKET="$D/env.sock" "$PVFSCTL" list
expect_ok "PVFS_SOCKET reaches pvfsd" env PVFS_SOCKET="$SOCK" "$PVFSCTL" list

# ---- attach, list, set-qos, stats, detach ----

expect_ok "attach with QoS" "${P[@]}" attach web --volume a.img --weight 200 \
	--iops-limit 5000 --bps-limit 100M --iops-reservation 100
has "attach reports the tenant" "tenant web attached: .*64.0 MiB, rw, cache none, weight 200"
expect_ok "attach read-only writeback by absolute path" "${P[@]}" attach db \
	--volume "$D/vols/b.img" --readonly --cache writeback
expect_ok "list" "${P[@]}" list
has "list has the header" "^NAME +STATE +VOLUME +SIZE +MODE +CACHE +WEIGHT +RESV +LIMITS +QUEUES +POLLER$"
has "list shows web with its QoS" "^web +unplugged +a\.img +64\.0 MiB +rw +none +200 +100 +iops=5000,bps=100M +- +-$"
has "list shows db read-only" "^db +unplugged .*b\.img +10\.0 GiB +ro +writeback +100 +- +- +- +-$"
expect_ok "list --json" "${P[@]}" --json list
json "list --json has both tenants with their QoS" \
	'sorted(t["name"] for t in j["tenants"]) == ["db", "web"] and [t for t in j["tenants"] if t["name"] == "web"][0]["qos"] == {"weight": 200, "iops_reservation": 100, "iops_limit": 5000, "bps_limit": 104857600, "latency_target_us": 0, "irq_coalesce_us": 0, "irq_coalesce_count": 0}'

expect_ok "set-qos" "${P[@]}" set-qos web --weight 300 --iops-limit 8000
has "set-qos reports the new QoS" "tenant web: weight 300, reservation 100, limits iops=8000,bps=100M"
expect_ok "list after set-qos" "${P[@]}" list
has "list shows the new QoS" "^web .* 300 +100 +iops=8000,bps=100M "
expect_ok "set-qos --json" "${P[@]}" --json set-qos web --bps-limit 0
json "set-qos --json returns the whole QoS" \
	'j == {"name": "web", "qos": {"weight": 300, "iops_reservation": 100, "iops_limit": 8000, "bps_limit": 0, "latency_target_us": 0, "irq_coalesce_us": 0, "irq_coalesce_count": 0}}'

expect_ok "set-qos --latency-target" "${P[@]}" set-qos web --latency-target 500
has "set-qos shows the latency target" "limits iops=8000,lat=500us"
expect_err "latency target above 10 s is refused" "latency_target_us must be 0-10000000" \
	"${P[@]}" set-qos web --latency-target 20000000
expect_ok "set-qos --latency-target 0" "${P[@]}" set-qos web --latency-target 0

# Interrupt coalescing (issue 11): shown with the QoS, bounded, count needs a window.
expect_ok "set-qos --irq-coalesce-us" "${P[@]}" set-qos web --irq-coalesce-us 50 --irq-coalesce-count 8
has "set-qos shows the coalescing" "limits iops=8000,irq=50us/8"
expect_err "a coalescing window above 10 ms is refused" "irq_coalesce_us must be 0-10000" \
	"${P[@]}" set-qos web --irq-coalesce-us 20000
expect_err "a count without a window is refused" "needs irq_coalesce_us" \
	"${P[@]}" set-qos web --irq-coalesce-us 0
expect_ok "set-qos --irq-coalesce-us 0 --irq-coalesce-count 0" "${P[@]}" set-qos web \
	--irq-coalesce-us 0 --irq-coalesce-count 0

# Online resize (issue 11): grows the file, refuses to shrink.
expect_ok "resize grows" "${P[@]}" resize web 128M
has "resize reports the new size" "tenant web: 128.0 MiB \(134217728 bytes\)"
if [ "$(stat -c %s "$D/vols/a.img")" = 134217728 ]; then
	ok "resize grew the file"
else
	notok "resize grew the file (size $(stat -c %s "$D/vols/a.img"))"
fi
expect_err "resize refuses to shrink" "pvfsd only grows volumes" "${P[@]}" resize web 64M
expect_err "resize of a read-only tenant is refused" "is read-only" "${P[@]}" resize db 20G
expect_err "resize to an unaligned size is refused" "not a multiple" "${P[@]}" resize web 134218000
expect_err "resize of an unknown tenant" "no tenant named nope" "${P[@]}" resize nope 1G
expect_err "test hook refused without --test-hooks" "test hooks are off" \
	"${P[@]}" test-drop-interrupts web

expect_ok "stats" "${P[@]}" stats
has "stats has the tenant header" "^NAME +STATE +POLLER +IOPS +MiB/s +READ +WRITE +ERRORS +INFLIGHT +P50us +P99us +P99\.9us +DOORBELLS +IRQS +THROTTLED +QDELAYus$"
has "stats has a row per tenant" "^web +unplugged +- +0 +0\.0 +0 +0 +0 +0 "
has "stats has the poller table" "^POLLER +BUSY\(s\) +IDLE\(s\) +WAKEUPS +INFLIGHT +TENANTS +LOAD% +STATE$"
expect_err "move needs --poller" "missing --poller N" "${P[@]}" move web
expect_err "move: --poller is a number" "invalid --poller value 'x'" "${P[@]}" move web --poller x
expect_err "move to a poller that does not exist" "poller 7 does not exist" \
	"${P[@]}" move web --poller 7
expect_err "move of an unplugged tenant" "tenant web is not running" "${P[@]}" move web --poller 0
expect_err "move of an unknown tenant" "no tenant named nope" "${P[@]}" move nope --poller 0
expect_ok "help move" "${P[@]}" help move
has "help move shows --poller" "^  -p, --poller N "
expect_ok "stats NAME --json" "${P[@]}" --json stats web
json "stats --json has one tenant, ops and pollers" \
	'[t["name"] for t in j["tenants"]] == ["web"] and "p99" in j["tenants"][0]["ops"]["read"]["latency_us"] and len(j["pollers"]) >= 1'
# Frames at 0 s and 1 s are needed; the 3.5 s bound leaves room on a loaded machine.
run timeout --preserve-status -s INT 3.5 "${P[@]}" stats --watch 1
if [ "$RC" -eq 0 ] && [ "$(grep -c '^POLLER' <<<"$OUT")" -ge 2 ] && ! grep -q $'\033' <<<"$OUT"; then
	ok "stats --watch repeats, stops cleanly on SIGINT, no clear-screen when not a tty"
else
	notok "stats --watch (exit $RC: $OUT $ERR)"
fi

# ---- errors ----

expect_err "attach of a missing volume names the path" "volume nope\.img does not exist" \
	"${P[@]}" attach x --volume nope.img
expect_err "attach of ../ escape" "outside" "${P[@]}" attach x --volume ../outside/secret.img
expect_err "attach of a symlink leading out" "outside" "${P[@]}" attach x --volume link.img
expect_err "attach of an absolute path outside" "outside" "${P[@]}" attach x --volume "$D/outside/secret.img"
expect_err "duplicate tenant name" "tenant web already exists" "${P[@]}" attach web --volume b.img
expect_err "same volume twice" "already attached to tenant web" "${P[@]}" attach web2 --volume a.img
expect_err "invalid tenant name" "invalid tenant name" "${P[@]}" attach "bad/name" --volume a.img
expect_err "detach of an unknown tenant" "no tenant named ghost" "${P[@]}" detach ghost
expect_err "set-qos of an unknown tenant" "no tenant named ghost" "${P[@]}" set-qos ghost --weight 5
expect_err "stats of an unknown tenant" "no tenant named ghost" "${P[@]}" stats ghost
expect_err "set-qos without options" "nothing to change" "${P[@]}" set-qos web
expect_err "junk number" "invalid --weight value 'abc'" "${P[@]}" set-qos web --weight abc
expect_err "number with junk" "invalid --iops-limit value '12x'" "${P[@]}" set-qos web --iops-limit 12x
expect_err "negative number" "invalid --iops-reservation value '-5'" "${P[@]}" set-qos web --iops-reservation -5
expect_err "fractional size" "invalid --bps-limit value '1.5G'" "${P[@]}" attach x --volume b.img --bps-limit 1.5G
expect_err "number too large" "invalid --weight value" "${P[@]}" set-qos web --weight 99999999999999999999
expect_err "weight out of range (daemon)" "weight must be 1-10000, got 0" "${P[@]}" set-qos web --weight 0
expect_err "reservation above the limit (daemon)" "reservation not above the IOPS limit" \
	"${P[@]}" set-qos web --iops-limit 10 --iops-reservation 20
expect_err "bad --cache" "--cache must be none or writeback" "${P[@]}" attach x --volume b.img --cache lots
expect_err "attach without --volume" "missing --volume" "${P[@]}" attach x
expect_err "attach without NAME" "missing tenant NAME" "${P[@]}" attach --volume b.img
expect_err "option without its value" "option --weight needs a value" "${P[@]}" set-qos web --weight
expect_err "extra argument" "unexpected argument 'more'" "${P[@]}" detach web more
expect_err "--watch 0" "--watch must be 1-86400" "${P[@]}" stats --watch 0

# ---- raw JSON-RPC ----

cat >"$D/rpc.py" <<'PYEOF'
# Raw JSON-RPC 2.0 checks against pvfsd; prints "ok - ..." / "not ok - ...".
import fcntl, json, os, socket, struct, subprocess, sys, time

SOCK, MODE = sys.argv[1], sys.argv[2]
fails = 0

def report(good, desc, detail=""):
    global fails
    if good:
        print("ok - " + desc)
    else:
        fails += 1
        print("not ok - %s %s" % (desc, detail))
    sys.stdout.flush()

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(SOCK)
    return s

def send(s, data, fds=()):
    if fds:
        socket.send_fds(s, [data], list(fds))
    else:
        s.send(data)

def raw(data, fds=(), s=None):
    s = s or connect()
    send(s, data, fds)
    return json.loads(s.recv(70000))

def req(method, params=None, id=1):
    m = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m).encode()

def call(method, params=None, id=1, fds=(), s=None):
    return raw(req(method, params, id), fds, s)

def still_serving(after):
    try:
        r = call("version", id="alive")
        good = r.get("id") == "alive" and "version" in r.get("result", {})
    except Exception as e:
        good, r = False, e
    report(good, "pvfsd still answers after " + after, r)

def expect_error(desc, r, code, text, id=1):
    e = r.get("error", {})
    good = (r.get("jsonrpc") == "2.0" and r.get("id") == id and e.get("code") == code
            and text in e.get("message", ""))
    report(good, "%s -> %d" % (desc, code), r)

def stride(depth, segs):
    # pvfs_queue_stride(): ctrl 256 + SQEs 64 + CQEs 16 + segments 16 + inflight 128 bytes
    end = 256 + depth * 64 + depth * 16 + depth * segs * 16 + depth * 128
    return (end + 4095) & ~4095

def sealed_memfd(name, size):
    """A memfd that cannot change size, as pvfsd requires of a region."""
    fd = os.memfd_create(name, os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    return fd

def make_plug(queues=2, depth=8, segs=4, nonblock=True):
    """A region as libpvfs-shim makes it, its eventfds and 1 MiB of guest memory."""
    size = 4096 + queues * stride(depth, segs)
    reg = sealed_memfd("region", size)
    os.pwrite(reg, struct.pack("<IIQIIIII", 0x53465650, 1, size, queues, depth, segs,
                               stride(depth, segs), 0), 0)
    fl = os.EFD_NONBLOCK if nonblock else 0
    kicks = [os.eventfd(0, fl) for _ in range(queues)]
    calls = [os.eventfd(0, fl) for _ in range(queues)]
    mem = os.memfd_create("guest-ram")
    os.ftruncate(mem, 1 << 20)
    params = {"queues": queues, "memory": [{"gpa": 0, "size": 1 << 20, "offset": 0}]}
    return reg, kicks, calls, mem, params

def tenant_state(name):
    for t in call("list")["result"]["tenants"]:
        if t["name"] == name:
            return t["state"]
    return None

def wait_state(name, want, seconds=3.0):
    end = time.time() + seconds
    while time.time() < end:
        st = tenant_state(name)
        if st == want:
            return st
        time.sleep(0.05)
    return tenant_state(name)

def host_state(reg):
    return struct.unpack_from("<I", os.pread(reg, 4, 64 + 32))[0]

if MODE == "raw":
    for m, p in [("version", None), ("list", None), ("stats", {"name": "web"}),
                 ("set_qos", {"name": "web", "weight": 250})]:
        r = call(m, p, id=42)
        report(r.get("jsonrpc") == "2.0" and r.get("id") == 42 and "result" in r,
               "raw %s: jsonrpc 2.0, id echoed, result" % m, r)
    r = call("version", id="str-id")
    report(r.get("id") == "str-id", "string id echoed", r)
    r = call("attach", {"name": "raw1", "volume": "sub/../c.img", "readonly": True}, id=7)
    report(r.get("id") == 7 and r.get("result", {}).get("readonly") is True, "raw attach", r)
    r = call("detach", {"name": "raw1", "force": True}, id=8)
    report(r.get("result") == {"detached": "raw1"}, "raw detach", r)

    expect_error("malformed JSON", raw(b'{"jsonrpc": "2.0", "id": 1, "method": '), -32700,
                 "parse error", id=None)
    still_serving("malformed JSON")
    expect_error("not a request object", raw(b"[1, 2, 3]"), -32600, "invalid request", id=None)
    expect_error("wrong jsonrpc version", raw(b'{"jsonrpc":"1.0","id":3,"method":"list"}'),
                 -32600, "invalid request", id=3)
    expect_error("params not an object", raw(b'{"jsonrpc":"2.0","id":1,"method":"list","params":[]}'),
                 -32600, "invalid request")
    expect_error("unknown method", call("frobnicate"), -32601, 'unknown method "frobnicate"')
    expect_error("wrong param type", call("attach", {"name": 5, "volume": "a.img"}), -32602,
                 "Expected string")
    expect_error("wrong bool type", call("attach", {"name": "x", "volume": "a.img", "readonly": 1}),
                 -32602, "Expected true or false")
    expect_error("unknown field", call("attach", {"name": "x", "volume": "a.img", "colour": "red"}),
                 -32602, "colour")
    expect_error("unknown field on a method without params", call("list", {"verbose": True}),
                 -32602, "verbose")
    expect_error("missing field", call("attach", {"name": "x"}), -32602, "volume")
    expect_error("negative limit", call("set_qos", {"name": "web", "iops_limit": -2}), -32602,
                 "iops_limit must be >= 0")
    expect_error("unknown tenant", call("detach", {"name": "ghost"}), -2, "no tenant named ghost")
    expect_error("escape by ..", call("attach", {"name": "x", "volume": "../outside/secret.img"}),
                 -18, "outside")
    expect_error("duplicate", call("attach", {"name": "web", "volume": "b.img"}), -17, "exists")
    expect_error("volume busy", call("attach", {"name": "x", "volume": "a.img"}), -16,
                 "already attached")
    big = b'{"jsonrpc":"2.0","id":1,"method":"list","params":{"pad":"' + b"x" * 70000 + b'"}}'
    expect_error("oversize packet", raw(big), -32600, "larger than 65536", id=None)
    still_serving("an oversize packet")
    nulls = [os.open("/dev/null", os.O_RDONLY) for _ in range(70)]
    expect_error("70 fds in one packet", raw(req("version"), nulls), -109,
                 "too many file descriptors", id=None)
    expect_error("fds to a method that takes none", raw(req("version"), nulls[:1]), -9,
                 "takes no file descriptors")
    for fd in nulls:
        os.close(fd)
    still_serving("too many fds")

    # plug: fd order region, kick[q], call[q], memory[n]
    reg, kicks, calls, mem, params = make_plug()
    params["name"] = "web"
    rp, wp = os.pipe()
    expect_error("pipe where the region memfd belongs",
                 call("plug", params, fds=[rp] + kicks + calls + [mem]), -9, "region fd")
    unsealed = os.memfd_create("unsealed")
    os.ftruncate(unsealed, 65536)
    expect_error("unsealed memfd as the region",
                 call("plug", params, fds=[unsealed] + kicks + calls + [mem]), -9,
                 "F_SEAL_SHRINK")
    expect_error("pipe where a kick eventfd belongs",
                 call("plug", params, fds=[reg, rp] + kicks[1:] + calls + [mem]), -9,
                 "kick fd of queue 0 is not an eventfd")
    expect_error("pipe where guest memory belongs",
                 call("plug", params, fds=[reg] + kicks + calls + [rp]), -9, "memory[0]")
    expect_error("wrong fd count", call("plug", params, fds=[reg] + kicks + calls), -9,
                 "plug needs 6 fds")
    expect_error("plug of an unknown tenant", call("plug", dict(params, name="ghost"),
                 fds=[reg] + kicks + calls + [mem]), -2, "not attached")
    bad = sealed_memfd("bad", 65536)
    expect_error("region without the pvfs magic", call("plug", params,
                 fds=[bad] + kicks + calls + [mem]), -71, "magic")
    still_serving("bad plugs")

    # A plug lives as long as its connection.
    ps = connect()
    r = call("plug", params, fds=[reg] + kicks + calls + [mem], s=ps)
    report(r.get("result", {}).get("state") == "running" and r["result"].get("queues") == 2,
           "plug: tenant running with 2 queues", r)
    report(host_state(reg) == 1, "plug: region host_state READY")
    expect_error("second plug of a plugged tenant",
                 call("plug", params, fds=[reg] + kicks + calls + [mem]), -16, "already plugged")
    out = subprocess.run([sys.argv[3], "-s", SOCK, "list"], capture_output=True, text=True).stdout
    report(any(l.startswith("web ") and " running " in l and l.split()[-2] == "2x8"
               for l in out.splitlines()), "pvfsctl list shows the plug (running, 2x8)", out)
    other = 1 - call("stats", {"name": "web"})["result"]["tenants"][0]["poller"]
    out = subprocess.run([sys.argv[3], "-s", SOCK, "move", "web", "--poller", str(other)],
                         capture_output=True, text=True).stdout
    report(out == "tenant web moved to poller %d\n" % other, "pvfsctl move moves a plugged tenant", out)
    out = subprocess.run([sys.argv[3], "-s", SOCK, "list"], capture_output=True, text=True).stdout
    report(any(l.startswith("web ") and l.split()[-1] == str(other) for l in out.splitlines()),
           "pvfsctl list shows its new poller", out)
    out = subprocess.run([sys.argv[3], "-s", SOCK, "--json", "move", "web", "--poller", str(other)],
                         capture_output=True, text=True).stdout
    report(json.loads(out) == {"name": "web", "poller": other, "moved": False},
           "pvfsctl --json move to its own poller: moved false", out)
    ps.close()
    st = wait_state("web", "unplugged")
    report(st == "unplugged", "closing the plug connection unplugs", st)
    # Detach of a plugged tenant replies once drained; the guest sees REMOVED.
    reg, kicks, calls, mem, params = make_plug()
    params["name"] = "web"
    ps = connect()
    r = call("plug", params, fds=[reg] + kicks + calls + [mem], s=ps)
    report("result" in r, "plug again after unplug", r)
    r = call("detach", {"name": "web"}, id=99)
    report(r.get("id") == 99 and r.get("result") == {"detached": "web"},
           "detach of a plugged tenant replies after draining", r)
    report(host_state(reg) == 3, "detach: region host_state REMOVED")
    report(tenant_state("web") is None, "detach: tenant gone")
    ps.close()
    still_serving("plug and detach")

elif MODE == "unauth":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    try:
        s.connect(SOCK)
    except PermissionError:
        report(True, "unauthorized uid: connect refused by the socket's mode (EACCES)")
        sys.exit(0)
    send(s, req("list", id=5))
    r = json.loads(s.recv(70000))
    expect_error("unauthorized uid", r, -13, "permission denied", id=5)
    report(s.recv(70000) == b"", "unauthorized peer is disconnected")

elif MODE == "blocking-eventfd":
    # Regression: a VMM may hand over eventfds without O_NONBLOCK. pvfsd must
    # not block its poller on them (a cancelled kick poll must not read()).
    r = call("attach", {"name": "blk", "volume": "a.img"})
    reg, kicks, calls, mem, params = make_plug(queues=1, nonblock=False)
    params["name"] = "blk"
    ps = connect()
    r = call("plug", params, fds=[reg] + kicks + calls + [mem], s=ps)
    report("result" in r, "plug with blocking eventfds", r)
    ps.close()
    st = wait_state("blk", "unplugged")
    report(st == "unplugged", "unplug with blocking eventfds completes (poller not stuck in read)", st)

sys.exit(3 if fails else 0)  # 1 is what an uncaught exception gives
PYEOF

# count_py MODE [RUNNER...]: run rpc.py, fold its checks into ours.
count_py() {
	local mode=$1 line rc
	shift
	while IFS= read -r line; do
		echo "$line"
		case $line in
		"ok - "*) passed=$((passed + 1)) ;;
		"not ok - "*) failed=$((failed + 1)) ;;
		esac
	done < <(timeout 60 "$@" "$D/rpc.py" "$SOCK" "$mode" "$PVFSCTL" 2>&1 ||
		{ rc=$?; [ "$rc" -eq 3 ] || echo "not ok - rpc.py $mode died (status $rc)"; })
}

count_py raw "$PYTHON"
expect_ok "pvfsctl version after the raw checks" "${P[@]}" version

# The socket's mode keeps others out; with 0666 pvfsd's SO_PEERCRED check must.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && [ -x /usr/bin/python3 ]; then
	chmod 0755 "$D"
	NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3)
	count_py unauth "${NOBODY[@]}"
	expect_err "pvfsctl as nobody: socket mode refuses" "permission denied on $SOCK \(need root or the admin group\)" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$PVFSCTL" -s "$SOCK" list
	chmod 0666 "$SOCK"
	count_py unauth "${NOBODY[@]}"
	expect_err "pvfsctl as nobody: pvfsd refuses" "permission denied: uid [0-9]+ is not root" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$PVFSCTL" -s "$SOCK" list
	chmod 0660 "$SOCK"
	expect_ok "pvfsctl version after the unauthorized peer" "${P[@]}" version
else
	echo "# skipping the unauthorized-uid checks (need root, setpriv and /usr/bin/python3)"
fi

# ---- detach ----

expect_ok "detach" "${P[@]}" detach db
has "detach reports it" "^tenant db detached$"
expect_ok "list after detach" "${P[@]}" --json list
json "list no longer shows db" 'all(t["name"] != "db" for t in j["tenants"])'
expect_err "detach twice" "no tenant named db" "${P[@]}" detach db

# Last: this one can leave a poller stuck (see the check's comment).
count_py blocking-eventfd "$PYTHON"

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
