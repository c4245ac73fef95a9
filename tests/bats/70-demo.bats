#!/usr/bin/env bats
# make demo (tools/demo): five st-listen nodes on 127.0.1.x, a seed list over HTTP on
# 127.0.0.1, the whole discovery pipeline; the demo checks its own claims.

load helpers

@test "the demo checks each claim it makes, exits 0, and writes no escape codes to a log" {
	run timeout -k 5 150 "$ST_TOP/tools/demo" "$ST_BUILD"
	assert_success
	assert_line "demo: checked: the seed list gave the operator's book node 1"
	assert_line "demo: checked: gossip taught the operator's book all five nodes"
	assert_line "demo: checked: the operator's book holds those five and no more"
	assert_line "demo: checked: st-addrbook recorded a success for each of the five nodes"
	assert_line "demo: checked: TLS proved each node's id, the id of its key"
	assert_line "demo: checked: st-peers banned the misbehaving node by the id it proved"
	assert_line "demo: checked: st-addrbook best no longer offers it"
	# the round after the ban dials the five good nodes only
	assert_line --regexp '^st-connect: 5 dialed in [0-9.]+s: 5 ok$'
	assert_line "demo: done; the operator's book learned all five nodes from a one-line seed list"
	[[ "$output" != *$'\033'* ]]
	# it stopped what it started, and left its files where it says
	assert_line "demo: everything it started is stopped; its files stay in $ST_BUILD/demo:"
	[ -s "$ST_BUILD/demo/operator/bans.journal" ]
	run pgrep -f "$ST_BUILD/demo/node"
	[ "$status" -eq 1 ]
}

@test "the demo names the step that hangs instead of hanging" {
	# an st-connect that never ends: the first step that dials must be reported as hung
	mkdir bin
	printf '#!/bin/sh\nexec sleep 600\n' >bin/st-connect
	chmod +x bin/st-connect
	for p in st-addrbook st-listen st-seed st-peers; do ln -s "$ST_BUILD/$p" bin/$p; done
	start=$(date +%s)
	DEMO_STEP_TIMEOUT=2 run timeout -k 5 60 "$ST_TOP/tools/demo" "$BATS_TEST_TMPDIR/bin"
	[ "$status" -eq 1 ]
	assert_line "demo: step 'gossip round 1' hung: no end after 2s"
	[ $(($(date +%s) - start)) -lt 30 ]
	[[ "$output" != *$'\033'* ]]
}
