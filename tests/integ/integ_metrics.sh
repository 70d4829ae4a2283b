#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# integ_metrics - GET /metrics on a live pvfsd: `promtool check metrics`
# passes on a scrape taken while two tenants do I/O; every required family
# is there with HELP and TYPE; after the VMs finish, pvfsd's counters agree
# exactly with what pvfs-bench itself counted, every stage of the latency
# breakdown (pvfs_stage_seconds) counted each request once, and `pvfsctl
# stats --latency-breakdown --json` says the same; other paths and methods
# get proper HTTP errors.
set -u
# shellcheck source=tests/integ/integ-lib.sh
. "$(dirname "$0")/integ-lib.sh"
command -v promtool > /dev/null || { echo "SKIP: promtool missing (package prometheus)"; exit 77; }
command -v python3 > /dev/null || { echo "SKIP: python3 missing"; exit 77; }

T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/vols"
truncate -s 64M "$T/vols/a.img" "$T/vols/b.img"
export PVFS_SOCKET=$T/run/control.sock
"$BUILD/bin/pvfsd" --runtime-dir "$T/run" --volume-dir "$T/vols" --metrics-listen 127.0.0.1:0 \
	--io-threads 2 --rebalance no 2> "$T/log" &
PID=$!
for _ in $(seq 100); do "$BUILD/bin/pvfsctl" version > /dev/null 2>&1 && break; sleep 0.1; done
ADDR=$(cat "$T/run/metrics.addr")
[ -n "$ADDR" ] && ok "metrics address recorded: $ADDR" || notok "no metrics.addr"

scrape() {	# path [method] -> body on stdout, "HTTP <code>" on stderr
	python3 - "$ADDR" "$1" "${2:-GET}" <<'PY'
import sys, http.client
host, port = sys.argv[1].rsplit(":", 1)
c = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=10)
c.request(sys.argv[3], sys.argv[2])
r = c.getresponse()
sys.stderr.write(f"HTTP {r.status} {r.getheader('Content-Type')}\n")
sys.stdout.write(r.read().decode())
PY
}

"$BUILD/bin/pvfsctl" attach a --volume a.img > /dev/null
"$BUILD/bin/pvfsctl" attach b --volume b.img --weight 200 > /dev/null
"$BUILD/bin/pvfs-bench" -q --tenant a --rw randrw --ios 40000 --iodepth 8 --json > "$T/a.json" &
A=$!
"$BUILD/bin/pvfs-bench" -q --tenant b --rw randwrite --bs 16k --ios 20000 --iodepth 4 --json > "$T/b.json" &
Z=$!
# Scrape while both are running (bounded wait for I/O to be under way).
live=0
for _ in $(seq 200); do
	scrape /metrics > "$T/live.prom" 2> "$T/hdr"
	grep -qE '^pvfs_tenant_ops_total\{tenant="a",op="(read|write)"\} [1-9]' "$T/live.prom" &&
		grep -qE '^pvfs_tenant_ops_total\{tenant="b",op="write"\} [1-9]' "$T/live.prom" && { live=1; break; }
	sleep 0.05
done
[ $live = 1 ] && kill -0 $A 2>/dev/null && ok "scraped while both tenants do I/O" ||
	notok "no live scrape with both tenants busy"
# Move a between the two pollers while it runs: its counters must still add up.
moved=0
for _ in 1 2 3 4; do
	p=$("$BUILD/bin/pvfsctl" --json list | python3 -c 'import json, sys
print(next((t.get("poller", -1) for t in json.load(sys.stdin)["tenants"] if t["name"] == "a"), -1))')
	[ "$p" -ge 0 ] && "$BUILD/bin/pvfsctl" move a --poller $((1 - p)) > /dev/null &&
		moved=$((moved + 1))
done
[ $moved -ge 1 ] && ok "moved a $moved time(s) while it ran" || notok "no move of a succeeded"
grep -q "text/plain; version=0.0.4" "$T/hdr" && ok "Content-Type is text format 0.0.4" || notok "content type: $(cat "$T/hdr")"
if out=$(promtool check metrics < "$T/live.prom" 2>&1); then
	ok "promtool check metrics passes on the live scrape"
else
	notok "promtool check metrics: $out"
fi
for f in pvfs_tenant_ops_total pvfs_tenant_bytes_total pvfs_tenant_errors_total \
	pvfs_tenant_latency_seconds pvfs_tenant_inflight pvfs_tenant_doorbells_total \
	pvfs_tenant_interrupts_total pvfs_tenant_throttled_total pvfs_poller_busy_seconds_total \
	pvfs_poller_idle_seconds_total pvfs_poller_wakeups_total pvfsd_tenants pvfsd_build_info \
	pvfs_tenant_moves_total pvfsd_moves_total pvfs_poller_tenants pvfs_poller_active \
	pvfs_tenant_coalesced_total pvfs_tenant_resets_total pvfs_tenant_irq_coalesce_seconds \
	pvfs_stage_seconds pvfs_domain_inflight pvfs_domain_inflight_cap pvfs_domain_tenants \
	pvfs_domain_busy_tenants pvfs_domain_ops_total pvfs_domain_cost_refits_total; do
	grep -q "^# HELP $f " "$T/live.prom" && grep -q "^# TYPE $f " "$T/live.prom" ||
		notok "family $f missing HELP/TYPE"
done
ok "all required families have HELP and TYPE"
grep -Eq '^pvfs_domain_cost_refits_total\{domain="[^"]+"\} 0$' "$T/live.prom" &&
	ok "the tenants' domain is there, its fixed model never refitted" ||
	notok "no pvfs_domain_cost_refits_total sample of 0 for the domain"

wait $A; ra=$?; wait $Z; rb=$?
[ $ra = 0 ] && [ $rb = 0 ] && ok "both VMs finished" || notok "bench exit $ra $rb"
scrape /metrics > "$T/end.prom" 2> /dev/null
promtool check metrics < "$T/end.prom" > /dev/null 2>&1 && ok "promtool passes after the run" || notok "promtool after run"
python3 - "$T" "$moved" <<'PY' && ok "pvfsd's counters equal pvfs-bench's own counts, moves counted" || notok "counters disagree"
import json, re, sys
t = sys.argv[1]
m = {}
for line in open(f"{t}/end.prom"):
    if line.startswith("#"): continue
    k, v = line.rsplit(" ", 1)
    m[k] = float(v)
ok = True
for name in ("a", "b"):
    b = json.load(open(f"{t}/{name}.json"))
    ops = sum(m.get(f'pvfs_tenant_ops_total{{tenant="{name}",op="{op}"}}', 0) for op in ("read", "write"))
    byt = sum(m.get(f'pvfs_tenant_bytes_total{{tenant="{name}",op="{op}"}}', 0) for op in ("read", "write"))
    cnt = sum(m.get(f'pvfs_tenant_latency_seconds_count{{tenant="{name}",op="{op}"}}', 0) for op in ("read", "write"))
    errs = sum(m.get(f'pvfs_tenant_errors_total{{tenant="{name}",op="{op}"}}', 0) for op in ("read", "write"))
    bells = m.get(f'pvfs_tenant_doorbells_total{{tenant="{name}"}}', -1)
    print(f"# {name}: bench ops {b['ops']} bytes {b['bytes']} doorbells {b['doorbells']}; "
          f"pvfsd ops {ops:.0f} bytes {byt:.0f} histogram count {cnt:.0f} doorbells {bells:.0f}")
    ok &= ops == b["ops"] and byt == b["bytes"] and cnt == ops and errs == 0
    ok &= bells == b["doorbells"]
    for st in ("queue", "submit", "backend", "complete"):
        n = m.get(f'pvfs_stage_seconds_count{{tenant="{name}",stage="{st}"}}', -1)
        s = m.get(f'pvfs_stage_seconds_sum{{tenant="{name}",stage="{st}"}}', -1)
        if n != ops or s < 0:
            print(f"# {name}: stage {st} count {n:.0f} sum {s}, expected count {ops:.0f}")
            ok = False
moves = (m.get('pvfs_tenant_moves_total{tenant="a"}'), m.get("pvfsd_moves_total"))
print(f"# moves of a: {sys.argv[2]} by pvfsctl; metrics: tenant {moves[0]}, pvfsd {moves[1]}")
ok &= moves == (float(sys.argv[2]), float(sys.argv[2]))
ok &= m.get('pvfs_poller_active{poller="1"}') == 1
sys.exit(0 if ok else 1)
PY
"$BUILD/bin/pvfsctl" --json stats --latency-breakdown > "$T/bd.json"
python3 - "$T" <<'PY' && ok "stats --latency-breakdown: every stage counted each request once" ||
import json, sys
t = sys.argv[1]
bd = json.load(open(f"{t}/bd.json"))
ok = True
for name in ("a", "b"):
    b = json.load(open(f"{t}/{name}.json"))
    for st in ("queue", "submit", "backend", "complete"):
        s = bd[name][st]
        ok &= s["count"] == b["ops"] and 0 <= s["p50_us"] <= s["p99_us"] <= s["p999_us"]
        ok &= s["mean_us"] >= 0
sys.exit(0 if ok else 1)
PY
	notok "latency breakdown: $(cat "$T/bd.json")"
"$BUILD/bin/pvfsctl" stats --latency-breakdown > "$T/bd.txt"
[ "$(grep -cE '^(a|b) +(queue|submit|backend|complete) ' "$T/bd.txt")" = 8 ] &&
	ok "stats --latency-breakdown prints a row per tenant and stage" || notok "breakdown table: $(cat "$T/bd.txt")"
scrape /nope > /dev/null 2> "$T/hdr"; grep -q "HTTP 404" "$T/hdr" && ok "404 for other paths" || notok "other path: $(cat "$T/hdr")"
scrape /metrics POST > /dev/null 2> "$T/hdr"; grep -qE "HTTP (405|501)" "$T/hdr" && ok "POST refused" || notok "POST: $(cat "$T/hdr")"
kill -TERM $PID; wait $PID; rc=$?; PID=
[ $rc = 0 ] && ok "pvfsd exits 0" || notok "pvfsd exit $rc"
[ $fail = 0 ]
