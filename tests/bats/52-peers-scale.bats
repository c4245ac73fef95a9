#!/usr/bin/env bats
# st-peers at scale: peers that keep moving to new endpoints never make a
# command spin (the endpoint index frees what a peer no longer holds).

load helpers

# dial_records PEERS EPS: one ok dial record per peer and endpoint, json lines.
dial_records() {
	awk -v peers="$1" -v eps="$2" 'BEGIN {
		for (e = 0; e < eps; e++)
			for (p = 0; p < peers; p++) {
				n = e * peers + p
				printf "{\"endpoint\":\"127.%d.%d.%d:7777\",\"status\":\"ok\",\"node_id\":\"p%d\"}\n",
				    int(n / 65536) % 256, int(n / 256) % 256, n % 256, p
			}
	}'
}

@test "ingest of 100 peers x 100 endpoints ends" {
	dial_records 100 100 >"$BATS_TEST_TMPDIR/dials.json"
	run timeout 60 st-peers ingest -q <"$BATS_TEST_TMPDIR/dials.json"
	[ "$status" -eq 0 ]
	run timeout 60 st-peers list -o json
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '"node_id":"p')" -eq 100 ]
	run timeout 60 st-peers show p99 -o json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"endpoints":"127.0.39.15:7777,'* ]]
	# a ban on p99 follows it to where it is now, not to where it was
	run timeout 60 st-peers ban -q p99
	[ "$status" -eq 0 ]
	run timeout 60 st-peers check 127.0.39.15:7777
	[ "$status" -eq 1 ]
	run timeout 60 st-peers check 127.0.0.99:7777
	[ "$status" -eq 0 ]
}

@test "ingest of 400 peers x 40 endpoints ends" {
	dial_records 400 40 >"$BATS_TEST_TMPDIR/dials.json"
	run timeout 60 st-peers ingest -q <"$BATS_TEST_TMPDIR/dials.json"
	[ "$status" -eq 0 ]
	run timeout 60 st-peers list -o json
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '"node_id":"p')" -eq 400 ]
}

@test "504 peers x 4 endpoints, then 200 adds that move peers to new endpoints, each ends" {
	dial_records 504 4 >"$BATS_TEST_TMPDIR/dials.json"
	run timeout 60 st-peers ingest -q <"$BATS_TEST_TMPDIR/dials.json"
	[ "$status" -eq 0 ]
	local i
	for i in $(seq 0 199); do
		run timeout 10 st-peers add -q "p$((i % 504))" "127.1.$((i / 256)).$((i % 256)):8888"
		[ "$status" -eq 0 ] || { echo "add $i: status $status"; false; }
	done
	run timeout 10 st-peers show p199 -o json
	[ "$status" -eq 0 ]
	[[ "$output" == *'127.1.0.199:8888'* ]]
	# an early move is still where it went
	run timeout 10 st-peers show p5 -o json
	[[ "$output" == *'127.1.0.5:8888'* ]]
}

@test "ingest of more than a batch (1 MiB) of input at once applies every record" {
	# 30,000 records of ~64 bytes: two batches, the input already there at the first end
	dial_records 3000 10 >"$BATS_TEST_TMPDIR/dials.json"
	[ "$(wc -c <"$BATS_TEST_TMPDIR/dials.json")" -gt 1048576 ]
	run timeout 60 st-peers ingest -o tsv <"$BATS_TEST_TMPDIR/dials.json"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c $'\tadded\t')" -eq 3000 ]
	[ "$(printf '%s\n' "$output" | grep -c $'\tsuccess\t')" -eq 27000 ]
	run timeout 60 st-peers show p2999 -o json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"successes":10'* ]]
}
