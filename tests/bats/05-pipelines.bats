#!/usr/bin/env bats
# The pipelines of the README and the man pages, on one data dir, run again and
# again under timeout: none may hang, whichever side of a pipe starts first.
# Real st-listen nodes on loopback answer the dials.

load helpers
load tls

RUNS=${ST_PIPELINE_RUNS:-10}

# three listeners, each with a book of its own to gossip from; our book knows them
setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	local i
	for i in 1 2 3; do
		st-addrbook --data-dir "$BATS_TEST_TMPDIR/n$i" add --allow-private -q \
			"127.0.$i.1:7777" "127.0.$i.2:7777" "127.0.$i.3:7777"
		start_listener "N$i" --data-dir "$BATS_TEST_TMPDIR/n$i" || return 1
	done
	st-addrbook add --allow-private -q "$N1_ADDR" "$N2_ADDR" "$N3_ADDR"
}

# again N CMD: runs the shell pipeline CMD N times, each under a 20 s timeout;
# fails naming the run that hung or failed
again() {
	local n=$1 cmd=$2 i rc
	for i in $(seq "$n"); do
		rc=0
		timeout -k 2 20 bash -o pipefail -c "$cmd" >"$BATS_TEST_TMPDIR/again.out" \
			2>"$BATS_TEST_TMPDIR/again.err" || rc=$?
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "run $i of '$cmd' hung" >&2
			cat "$BATS_TEST_TMPDIR/again.err" >&2
			return 1
		fi
		if [ "$rc" -ne "${WANT_STATUS:-0}" ]; then
			echo "run $i of '$cmd' exited $rc" >&2
			cat "$BATS_TEST_TMPDIR/again.err" >&2
			return 1
		fi
	done
}

@test "best | add, whichever side starts first" {
	again "$RUNS" 'st-addrbook best -n 8 | st-addrbook add --allow-private -q'
	again "$RUNS" '{ sleep 0.2; st-addrbook best -n 8; } | st-addrbook add --allow-private -q'
	again "$RUNS" 'st-addrbook best -n 8 | { sleep 0.2; st-addrbook add --allow-private -q; }'
	again "$RUNS" 'st-addrbook list -o json | st-addrbook add --allow-private -q'
	again "$RUNS" 'st-addrbook list -o tsv | st-addrbook add --allow-private -q'
	run st-addrbook list -o tsv
	[ "$(grep -vc '^#' <<<"$output")" -eq 3 ]
}

@test "best | connect | record, and with tee into ingest" {
	again "$RUNS" 'st-addrbook best -n 8 | st-connect -o json | st-addrbook record -q'
	again "$RUNS" 'st-addrbook best -n 8 | st-connect -o json | tee >(st-addrbook record -q) | st-peers ingest -q >/dev/null'
	run st-addrbook list -o json
	[ "$status" -eq 0 ]
	# every run reached all three, and each was recorded: by record alone, then by
	# record in the tee (ingest books no address results)
	[ "$(grep -c "\"successes\":$((2 * RUNS))," <<<"$output")" -eq 3 ]
	run st-peers list -o json
	[ "$(grep -c '"successes":'"$RUNS"',' <<<"$output")" -eq 3 ]
}

@test "best | connect --ping | ingest, whichever side starts first" {
	again "$RUNS" 'st-addrbook best -n 8 | st-connect --ping -o json | st-peers ingest -q >/dev/null'
	again "$RUNS" 'st-addrbook best -n 8 | st-connect --ping -o json | { sleep 0.2; st-peers ingest -q >/dev/null; }'
	again "$RUNS" '{ sleep 0.2; st-addrbook best -n 8; } | st-connect --ping -o tsv | st-peers ingest -q >/dev/null'
	run st-peers list -o json
	[ "$(grep -c '"successes":'"$((3 * RUNS))"',' <<<"$output")" -eq 3 ]
}

@test "best | connect --getpeers | add learns every node's peers" {
	# after the first run the book holds the nine gossiped addresses too, none
	# listening and none tried yet; -n 16 dials all twelve, so a run cannot draw
	# eight dead ones and fail with 69
	again "$RUNS" 'st-addrbook best -n 16 | st-connect --getpeers 100 | st-addrbook add --allow-private -q'
	again "$RUNS" 'st-addrbook best -n 16 | st-connect --getpeers 100 -o json | st-addrbook add --allow-private -q'
	run st-addrbook list -o tsv
	# the three nodes and the nine addresses they gossip
	[ "$(grep -vc '^#' <<<"$output")" -eq 12 ]
}

@test "over TLS: best | connect | tee record | ingest, and getpeers | add, every id proven" {
	# three TLS nodes with keys of their own, gossiping as the plain ones do; the
	# operator has a key too, and tls: true from the environment
	local i ids=()
	for i in 1 2 3; do
		tls_node "T$i"
		local dir="T${i}_DIR" id="T${i}_ID"
		ids+=("${!id}")
		st-addrbook --data-dir "${!dir}" add --allow-private -q "127.0.$((i + 4)).1:7777"
		start_listener "L$i" --tls --data-dir "${!dir}" || return 1
	done
	tls_node OP
	export ST_DATA_DIR=$OP_DIR ST_TLS=true
	st-addrbook add --allow-private -q "$L1_ADDR" "$L2_ADDR" "$L3_ADDR"
	again "$RUNS" 'st-addrbook best -n 8 | st-connect --ping -o json | tee >(st-addrbook record -q) | st-peers ingest -q >/dev/null'
	again "$RUNS" 'st-addrbook best -n 16 | st-connect --getpeers 100 -o tsv | st-addrbook add --allow-private -q'
	run st-peers list -o json
	for id in "${ids[@]}"; do
		grep -F "\"node_id\":\"$id\"" <<<"$output" | grep -F '"verified":true' | grep -qF "\"successes\":$RUNS,"
	done
	# the three nodes and the three addresses they gossip, learned over TLS
	run st-addrbook list -o tsv
	[ "$(grep -vc '^#' <<<"$output")" -eq 6 ]
}

@test "best | crawl | add, in tsv and json, whichever side starts first" {
	# st-crawl reads the book's best from the pipe, st-addrbook add writes the same book;
	# each run its own state, so each crawls afresh (the gossiped addresses are dead)
	# (-n 16: the book soon holds the nine dead ones too, and eight drawn from twelve
	# could all be dead, which st-crawl rightly reports with 69)
	local c='st-crawl --allow-private --timeout 2s --ask-interval 0 --state "$(mktemp -d -p "$BATS_TEST_TMPDIR")"'
	again "$RUNS" "st-addrbook best -n 16 | $c -o json | st-addrbook add --allow-private -q"
	again "$RUNS" "st-addrbook best -n 16 | $c -o tsv | st-addrbook add --allow-private -q"
	again "$RUNS" "{ sleep 0.2; st-addrbook best -n 16 -o json; } | $c -o tsv | st-addrbook add --allow-private -q"
	again "$RUNS" "st-addrbook best -n 16 | $c -o json | { sleep 0.2; st-addrbook add --allow-private -q; }"
	# and alongside: the crawl records into both books while add writes the address book
	again "$RUNS" "st-addrbook best -n 16 | $c --update -o json | st-addrbook add --allow-private -q"
	# the crawl found the three nodes and the nine addresses they gossip
	run st-addrbook list -o tsv
	[ "$(grep -vc '^#' <<<"$output")" -eq 12 ]
	run st-peers list -o tsv
	[ "$(grep -vc '^#' <<<"$output")" -eq 3 ]
}

@test "best | connect --update, and alongside the other writers" {
	again "$RUNS" 'st-addrbook best -n 8 | st-connect --update -q >/dev/null'
	again "$RUNS" 'st-addrbook best -n 8 | st-connect --update -o json | st-peers ingest -q >/dev/null'
	run st-peers list -o tsv
	[ "$(grep -vc '^#' <<<"$output")" -eq 3 ]
}

@test "bans | ingest and export | import end" {
	st-peers ban -q 127.0.9.9
	WANT_STATUS=65 again "$RUNS" 'st-peers bans -o json | st-peers ingest -q'
	WANT_STATUS=65 again "$RUNS" 'st-peers bans -o tsv | st-peers ingest -q'
	again "$RUNS" 'st-addrbook export | ST_ADDRBOOK_ALLOW_PRIVATE=true st-addrbook import -q -'
	run st-peers check 127.0.9.9
	[ "$status" -eq 1 ]
}

@test "seed fetch | add" {
	mkdir www
	printf '127.0.4.%d:7777\n' 1 2 3 4 5 >www/peers.txt
	start_httpd WEB www
	again "$RUNS" "st-seed fetch -q '$WEB_URL/peers.txt' | st-addrbook add --allow-private -q"
	again "$RUNS" "st-seed fetch -q -o json '$WEB_URL/peers.txt' | st-addrbook add --allow-private -q"
	run st-addrbook list -o tsv
	[ "$(grep -vc '^#' <<<"$output")" -eq 8 ]
	# text in a pipe still carries the source the seed gave
	[ "$(grep -c $'\tseed:'"$WEB_URL/peers.txt"'$' <<<"$output")" -eq 5 ]
}

@test "a running listen | ingest holds up no reader and no writer" {
	# the pipe by hand, so that each side has a pid to stop: listen | ingest
	mkfifo feed
	st-peers ingest -o json <feed >ING.out 2>ING.err 3>&- &
	echo $! >ING.pid
	st-listen --bind 127.0.0.1:0 -o json >feed 2>listen.err 3>&- &
	echo $! >LST.pid
	printf '%s\n' LST ING >>bg-names
	wait_for_line listen.err '^listening ' 10
	addr=$(sed -n 's/^listening //p' listen.err)
	for i in $(seq 5); do
		# a node that says where it listens is booked by ingest; a dialer reads the
		# bans; neither check nor list nor ban waits on the running ingest
		run timeout 5 python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$addr" "node-$i" "$((7000 + i))"
		[ "$output" = "ack $(cat "$ST_DATA_DIR/node_id")" ]
		run timeout 5 st-connect -o json "$addr"
		[ "$status" -eq 0 ]
		run timeout 5 st-peers check 127.0.0.1
		[ "$status" -eq 0 ]
		run timeout 5 st-peers list
		[ "$status" -eq 0 ]
		run timeout 5 st-peers ban -q --for 1h "127.0.8.$i"
		[ "$status" -eq 0 ]
	done
	wait_for_line ING.out '"node_id":"node-5","endpoint":"127.0.0.1:7005","change":"added"' 10
	# the listener gone, ingest ends with its input
	stop_bg LST
	wait "$(cat ING.pid)"
	# the five nodes, and not st-connect: it says it listens nowhere, so its
	# sessions name no endpoint and are for no book
	run st-peers list -o json
	[ "$(grep -c '"node_id":"' <<<"$output")" -eq 5 ]
	[ "$(grep -c '"node_id":"node-' <<<"$output")" -eq 5 ]
}

@test "a lock wait is told once, names the holder, and --wait bounds it" {
	st-addrbook add --allow-private -q 127.0.5.1:7777
	# something else that holds the table: one process with a shared flock, until stopped
	start_bg HOLD python3 -c 'import fcntl, sys, time
f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_SH); print("held", flush=True); time.sleep(60)' \
		"$ST_DATA_DIR/addrbook.lock"
	wait_for_line "$BATS_TEST_TMPDIR/HOLD.out" '^held$' 10
	holder=$(cat "$BATS_TEST_TMPDIR/HOLD.pid")
	run timeout 10 st-addrbook --wait 1500ms add --allow-private 127.0.5.2:7777
	[ "$status" -eq 75 ]
	# the holder by pid and command (python3, or what a pyenv shim execs)
	[ "$(grep -c "waiting for the addrbook lock (held by pid $holder, python" <<<"$output")" -eq 1 ]
	[[ "$output" == *"the addrbook table is in use (held by pid $holder, python"* ]]
	# the config key does the same; with the lock gone the writer gets in
	run env ST_LOCK_WAIT=200ms st-addrbook add --allow-private 127.0.5.2:7777
	[ "$status" -eq 75 ]
	stop_bg HOLD
	run st-addrbook --wait 1s add --allow-private 127.0.5.2:7777
	[ "$status" -eq 0 ]
}

@test "a reader never creates the data dir or a file" {
	for cmd in "st-addrbook list" "st-addrbook best" "st-addrbook export" "st-addrbook stats" \
		"st-peers list" "st-peers bans" "st-peers check 1.2.3.4" "st-peers show x"; do
		run $cmd --data-dir "$BATS_TEST_TMPDIR/none"
		[ "$status" -eq 66 ] || { echo "$cmd: $status $output"; false; }
		[[ "$output" == *"$BATS_TEST_TMPDIR/none"* ]]
		[ ! -e "$BATS_TEST_TMPDIR/none" ]
	done
	mkdir empty
	run st-addrbook list --data-dir empty
	[ "$status" -eq 0 ]
	run st-peers check 1.2.3.4 --data-dir empty
	[ "$status" -eq 0 ]
	[ -z "$(ls -A empty)" ]
	run st-addrbook add --data-dir "$BATS_TEST_TMPDIR/new/dir" --allow-private 127.0.0.1:1
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/new/dir")" = 700 ]
}
