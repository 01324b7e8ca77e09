#!/usr/bin/env bash
# The trace hook's example (examples/trace): Chrome trace-event JSON of
# three calls of the test guest's call_host, each with a restore: valid
# JSON, begin/end pairs balanced per category, three calls named after the
# guest function, three host calls of host function 1 returning 0, three
# restores after evolve's, and instant events for the exits.
set -u
nub=$1
fail=0
. "$(dirname "$0")/lib/check.sh"
tracer=$NUB_BUILD_DIR/examples/trace/nub-trace
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check "nub-trace writes the file" 0 "events in $tmp/t.json" \
	env NUB_BACKEND=mock "$tracer" "$tmp/t.json" "$NUB_GUEST_DIR/test_guest.elf" call_host \
	hex:01000000616263 3
check "a bad function is refused" 1 "the guest has no function 'nope'" \
	env NUB_BACKEND=mock "$tracer" "$tmp/u.json" "$NUB_GUEST_DIR/test_guest.elf" nope
check "the trace is what Chrome reads" 0 "trace ok" python3 - "$tmp/t.json" <<'PY'
import json, sys, collections
ev = json.load(open(sys.argv[1]))["traceEvents"]
depth = collections.Counter()
for e in ev:
    assert {"name", "ph", "ts", "pid", "tid"} <= e.keys(), e
    if e["ph"] == "B":
        depth[e["cat"]] += 1
    elif e["ph"] == "E":
        depth[e["cat"]] -= 1
        assert depth[e["cat"]] >= 0, e
        assert e["args"]["rc"] == 0, e
    else:
        assert e["ph"] == "i" and e["cat"] == "exit", e
assert not any(depth.values()), depth
ts = [e["ts"] for e in ev]
assert ts == sorted(ts), "time goes back"
names = collections.Counter(e["name"] for e in ev if e["ph"] == "B")
assert names["call call_host"] == 3, names
assert names["host function 1"] == 3, names
assert names["restore"] == 4, names
exits = collections.Counter(e["name"] for e in ev if e["ph"] == "i")
assert exits["exit: host call"] == 3 and exits["exit: call done"] == 3, exits
print("trace ok")
PY
exit $fail
