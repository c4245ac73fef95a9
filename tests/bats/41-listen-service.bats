#!/usr/bin/env bats
# st-listen as a systemd service (Type=notify): READY=1 once every address is
# bound, RELOADING=1 and READY=1 around a SIGHUP, STOPPING=1 at the end. A small
# python listener stands in for systemd's end of NOTIFY_SOCKET.

load helpers

# start_notify: the stand-in, on $BATS_TEST_TMPDIR/notify.sock, for 60 s at most
start_notify() {
	export NOTIFY_SOCKET=$BATS_TEST_TMPDIR/notify.sock
	start_bg notify "$ST_TOP/tests/bats/tools/notify-listen" "$NOTIFY_SOCKET" 60
	wait_for_line "$BATS_TEST_TMPDIR/notify.out" '^bound$' 10
}

notes() {
	cat "$BATS_TEST_TMPDIR/notify.out"
}

@test "st-listen says READY=1 to NOTIFY_SOCKET once it listens, STOPPING=1 at SIGTERM" {
	start_notify
	start_listener L1
	wait_for_line "$BATS_TEST_TMPDIR/notify.out" '^READY=1 STATUS=listening 127\.0\.0\.1:[0-9]+$' 10
	# ready means ready: the address in the status answers
	addr=$(sed -n 's/^READY=1 STATUS=listening //p' "$BATS_TEST_TMPDIR/notify.out")
	[ "$addr" = "$L1_ADDR" ]
	run st-connect -o tsv "$addr"
	[ "$status" -eq 0 ]
	[ "$(col status <<<"$output")" = ok ]
	kill -TERM "$(cat "$BATS_TEST_TMPDIR/L1.pid")"
	wait_for_line "$BATS_TEST_TMPDIR/notify.out" '^STOPPING=1$' 10
	run notes
	[ "${lines[1]}" = "READY=1 STATUS=listening $addr" ]
	[ "${lines[2]}" = "STOPPING=1" ]
}

@test "SIGHUP: st-listen reads its bans again, tells systemd, and keeps serving" {
	start_notify
	start_listener L1
	wait_for_line "$BATS_TEST_TMPDIR/notify.out" '^READY=1' 10
	pid=$(cat "$BATS_TEST_TMPDIR/L1.pid")
	for i in 1 2 3; do
		kill -HUP "$pid"
		wait_for_line "$BATS_TEST_TMPDIR/L1.err" "^level=info event=reload " 10
		run st-connect -o tsv "$L1_ADDR"
		[ "$(col status <<<"$output")" = ok ] || { echo "after SIGHUP $i: $output"; false; }
	done
	kill -0 "$pid"
	run grep -c '^RELOADING=1 MONOTONIC_USEC=[0-9]*$' "$BATS_TEST_TMPDIR/notify.out"
	[ "$output" -eq 3 ]
	# each RELOADING=1 is followed by READY=1
	run awk '/^RELOADING=1/ { r = 1; next } r && /^READY=1$/ { n++; r = 0 } END { print n }' \
		"$BATS_TEST_TMPDIR/notify.out"
	[ "$output" -eq 3 ]
	# a ban set meanwhile holds after the reload: the listener refuses the
	# address (st-connect, on books of its own, does not know of the ban)
	st-peers ban 127.0.0.1 >/dev/null
	kill -HUP "$pid"
	wait_for_line "$BATS_TEST_TMPDIR/notify.out" '^READY=1$' 10
	run st-connect --data-dir "$BATS_TEST_TMPDIR/other" -o tsv "$L1_ADDR"
	st=$(col status <<<"$output")
	[ -n "$st" ] && [ "$st" != ok ] || { echo "$output"; false; }
	kill -0 "$pid"
}

@test "SIGHUP while another holds the bans table: READY=1 follows, the copy in memory serves, then the reread bans hold" {
	start_notify
	st-peers ban -q 127.0.0.5 # a bans table (and its lock file) to hold
	start_listener L1
	wait_for_line "$BATS_TEST_TMPDIR/notify.out" '^READY=1' 10
	pid=$(cat "$BATS_TEST_TMPDIR/L1.pid")
	# something else holds the table's lock, as a writer would (bounded: 20 s)
	start_bg HOLD flock -o "$ST_DATA_DIR/bans.lock" sleep 20 # -o: only flock holds it
	local i
	for i in $(seq 50); do flock -n "$ST_DATA_DIR/bans.lock" true || break; sleep 0.1; done
	kill -HUP "$pid"
	wait_for_line "$BATS_TEST_TMPDIR/L1.err" "^level=warn event=reload .*bans not read .*the copy in memory serves" 10
	wait_for_line "$BATS_TEST_TMPDIR/notify.out" '^RELOADING=1' 10
	run awk '/^RELOADING=1/ { r = 1; next } r && /^READY=1$/ { n++; r = 0 } END { print n + 0 }' \
		"$BATS_TEST_TMPDIR/notify.out"
	[ "$output" -eq 1 ]
	run st-connect --data-dir "$BATS_TEST_TMPDIR/other" -o tsv "$L1_ADDR"
	[ "$(col status <<<"$output")" = ok ]
	# the ban read before the lock still holds: the copy was kept, not dropped
	run python3 "$ST_TOP/tests/bats/tools/peer.py" getpeers "$L1_ADDR" 127.0.0.5
	[ "$output" = "127.0.0.5 closed" ]
	# let go; a ban of the client's address, a reload: the listener refuses it
	stop_bg HOLD
	st-peers ban -q 127.0.0.1
	kill -HUP "$pid"
	wait_for_line "$BATS_TEST_TMPDIR/L1.err" "^level=info event=reload .*bans read again" 10
	run st-connect --data-dir "$BATS_TEST_TMPDIR/other" -o tsv "$L1_ADDR"
	st=$(col status <<<"$output")
	[ -n "$st" ] && [ "$st" != ok ] || { echo "$output"; false; }
	kill -0 "$pid"
}

@test "without NOTIFY_SOCKET st-listen runs as before; a bad one is a warning, not an end" {
	unset NOTIFY_SOCKET
	start_listener L1
	run st-connect -o tsv "$L1_ADDR"
	[ "$(col status <<<"$output")" = ok ]
	stop_bg L1
	NOTIFY_SOCKET=relative start_listener L2
	run st-connect -o tsv "$L2_ADDR"
	[ "$(col status <<<"$output")" = ok ]
	grep -q "NOTIFY_SOCKET 'relative': not a socket path" "$BATS_TEST_TMPDIR/L2.err"
}
