#!/usr/bin/env bats
# st-crawl: crawling real st-listen nodes on loopback, the state, dump, export-seeds,
# serve-dns (queried with st-seed and raw UDP), and the network in a box.
# Every endpoint dialed is loopback; the routable addresses of crafted states are data only.

load helpers
load tls
bats_require_minimum_version 1.5.0

CRAWL_HEADER=$'#endpoint\treachable\tstatus\tnode_id\tverified\tversion\tuser_agent\tservices\trtt_ms\tpeers_offered\tlearned\tfirst_seen\tlast_seen\terror'

# net3: three st-listen nodes on 127.0.0.1..3 sharing port $PORT; node 1 knows 2, 3 and a
# dead 127.0.0.9, node 2 knows node 1. Sets PORT, N1, N2, N3, DEAD.
net3() {
	PORT=$(free_port 127.0.0.1)
	N1=127.0.0.1:$PORT N2=127.0.0.2:$PORT N3=127.0.0.3:$PORT DEAD=127.0.0.9:$PORT
	local i
	for i in 1 2 3; do mkdir -p "n$i"; done
	printf '%s\n' "$N2" "$N3" "$DEAD" | st-addrbook --data-dir n1 -q add --allow-private
	printf '%s\n' "$N1" | st-addrbook --data-dir n2 -q add --allow-private
	for i in 1 2 3; do
		start_listener "L$i" --data-dir "n$i" --bind "127.0.0.$i:$PORT"
	done
}

# craft_state DIR V4 V6 [NOW]: a crawl state of V4 IPv4 nodes (ten per /16: 1.G.0.K) and
# V6 IPv6 nodes, all good, reached once at NOW; even ones have service bit 1, odd ones 0.
craft_state() {
	local dir=$1 v4=$2 v6=$3 now=${4:-1700000000}
	mkdir -p "$dir"
	awk -v v4="$v4" -v v6="$v6" -v now="$now" 'BEGIN {
		print "#st crawl 1 gen 0"
		w = "1.000000,1.0000"
		for (i = 0; i < v4 + v6; i++) {
			ep = i < v4 ? sprintf("1.%d.0.%d:7777", 1 + int(i / 10), 1 + i % 10) \
			            : sprintf("[2001:%x::%x]:7777", 1 + int((i - v4) / 10), 1 + (i - v4) % 10)
			printf "%s\t%d\t%d\t%d\t%d\t1\t1\tok\tid%d\t1\t%x\t5\t0\t1\t%d\t%s\t%s\t%s\t%s\t%s\tst/0.1.0\n",
				ep, now, now, now, now, i, (i % 2 == 0), now, w, w, w, w, w
		}
	}' >"$dir/crawl.tsv"
	chmod 600 "$dir/crawl.tsv"
}

# start_dns_seed NAME ARGS...: st-crawl serve-dns in the background; NAME_ADDR is where.
start_dns_seed() {
	local name=$1
	shift
	start_bg "$name" st-crawl serve-dns "$@"
	wait_for_line "$BATS_TEST_TMPDIR/$name.out" '^listening ' 10
	printf -v "${name}_ADDR" '%s' "$(sed -n 's/^listening //p' "$BATS_TEST_TMPDIR/$name.out")"
}

dnsq() {
	python3 "$ST_TOP/tests/bats/tools/dnsq.py" "$@"
}

@test "crawl: breadth first from one seed, one record per node, the dead one refused" {
	net3
	run --separate-stderr st-crawl --allow-private -o tsv "$N1"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$CRAWL_HEADER" ]
	[ "$(records <<<"$output" | grep -c .)" -eq 4 ]
	[ "$(col endpoint reachable status <<<"$output" | sort)" = "$(printf '%s\n' \
		"$N1	true	ok" "$N2	true	ok" "$N3	true	ok" "$DEAD	false	refused" | sort)" ]
	# the seed offered three, all new; node 2 offered the seed back, nothing new
	[ "$(col endpoint peers_offered learned <<<"$output" | grep "^$N1")" = "$N1	3	3" ]
	[ "$(col endpoint peers_offered learned <<<"$output" | grep "^$N2")" = "$N2	1	0" ]
	[ "$(col endpoint user_agent services <<<"$output" | grep "^$N3")" = "$N3	st/$(cat "$ST_TOP/VERSION")	0000000000000001" ]
	# the summary, on stderr, as records of their own
	run --separate-stderr st-crawl --retest 0 --allow-private -o json --state "$ST_DATA_DIR/crawl" "$N1"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	lines=("${stderr_lines[@]}")
	assert_line '{"metric":"reachable","key":null,"value":3}'
	assert_line '{"metric":"group","key":"127.0.0.0/16","value":3}'
	assert_line --regexp '^\{"metric":"rtt_ms","key":"p50","value":[0-9]+\}$'
}

# tls2 [PORT]: TLS st-listen nodes B on 127.0.0.1 and C on 127.0.0.2 (same port), B knowing C,
# and a crawler identity A. Sets PORT, TB, TC and the tls_node variables.
tls2() {
	tls_node A
	tls_node B
	tls_node C
	PORT=${1:-$(free_port 127.0.0.1)}
	TB=127.0.0.1:$PORT TC=127.0.0.2:$PORT
	printf '%s\n' "$TC" | st-addrbook --data-dir "$B_DIR" -q add --allow-private
	start_listener LB --tls -o tsv --data-dir "$B_DIR" --bind "$TB"
	start_listener LC --tls --data-dir "$C_DIR" --bind "$TC"
}

@test "crawl --tls: every node's id proven by its certificate, verified in the record and the state" {
	tls2
	run --separate-stderr st-crawl --tls --allow-private -o tsv --data-dir "$A_DIR" "$TB"
	[ "$status" -eq 0 ]
	[ "$(col endpoint status node_id verified <<<"$output" | sort)" = "$(printf '%s\n' \
		"$TB	ok	$B_ID	true" "$TC	ok	$C_ID	true")" ]
	# the state keeps it
	run st-crawl dump -o tsv --allow-private --data-dir "$A_DIR"
	[ "$(col endpoint node_id verified <<<"$output" | sort)" = "$(printf '%s\n' \
		"$TB	$B_ID	true" "$TC	$C_ID	true")" ]
	# config tls: true is the same; plain TCP at a TLS port is no handshake, nothing verified
	ST_TLS=true run --separate-stderr st-crawl --retest 0 --allow-private -o tsv --data-dir "$A_DIR" "$TB"
	[ "$(col endpoint verified <<<"$output" | sort)" = "$(printf '%s\n' "$TB	true" "$TC	true")" ]
	run --separate-stderr st-crawl --retest 0 --allow-private -o tsv --state "$BATS_TEST_TMPDIR/plain" --data-dir "$A_DIR" "$TB"
	[ "$status" -eq 69 ]
	[ "$(col endpoint status verified <<<"$output")" = "$TB	protocol-error	false" ]
	# --update: the books hold the proven ids
	run st-crawl --tls --update --retest 0 --allow-private -q --data-dir "$A_DIR" "$TB"
	[ "$status" -eq 0 ]
	run st-peers --data-dir "$A_DIR" show -o tsv "$C_ID"
	[ "$(col verified <<<"$output")" = true ]
	run st-crawl --strict --data-dir "$A_DIR" "$TB"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--strict goes with --tls"* ]]
}

@test "crawl --tls: a full answer is asked again over TLS, by the id that answered first" {
	tls2
	run --separate-stderr st-crawl --tls --allow-private --getpeers 1 --ask-interval 0 -o tsv \
		--data-dir "$A_DIR" "$TB"
	[ "$status" -eq 0 ]
	[ "$(col endpoint status node_id verified peers_offered <<<"$output" | grep "^$TB")" = \
		"$TB	ok	$B_ID	true	1" ]
	# two sessions at B, both TLS with A's proven id: the first answer, then the ask again
	# (answered empty: st-listen answers one GetPeers per address a minute)
	for i in $(seq 100); do
		[ "$(grep -c "	$A_ID	true	" "$BATS_TEST_TMPDIR/LB.out")" -ge 2 ] && break
		sleep 0.1
	done
	[ "$(grep "	$A_ID	true	" "$BATS_TEST_TMPDIR/LB.out" | cut -f3 | sort -u)" = ok ]
	[ "$(grep -c "	$A_ID	true	" "$BATS_TEST_TMPDIR/LB.out")" -eq 2 ]
}

@test "crawl --tls: a seed's pinned id, and trust on first use against the state (--strict refuses a change)" {
	tls2
	# a seed pinned to the wrong id (A's own) ends before any st message
	run --separate-stderr st-crawl --tls --allow-private -o tsv --data-dir "$A_DIR" "$A_ID@$TB"
	[ "$status" -eq 69 ]
	[ "$(col endpoint status verified <<<"$output")" = "$TB	identity-mismatch	false" ]
	[[ "$(col error <<<"$output")" == *"certificate of $B_ID, not the pinned $A_ID"* ]]
	# pinned right: taken
	run --separate-stderr st-crawl --tls --retest 0 --allow-private -o tsv --data-dir "$A_DIR" "$B_ID@$TB"
	[ "$(col endpoint status node_id <<<"$output" | grep "^$TB")" = "$TB	ok	$B_ID" ]
	# another key at C's endpoint: refused with --strict, the state keeps C
	stop_bg LC
	tls_node D
	start_listener LD --tls --data-dir "$D_DIR" --bind "$TC"
	run --separate-stderr st-crawl --tls --strict --retest 0 --allow-private -o tsv --data-dir "$A_DIR" "$TB"
	[ "$(col endpoint status <<<"$output" | grep "^$TC")" = "$TC	identity-changed" ]
	[[ "$(col error <<<"$output")" == *"certificate of $D_ID, the endpoint proved $C_ID before (refused: strict)"* ]]
	run st-crawl dump -o tsv --allow-private --data-dir "$A_DIR"
	[ "$(col endpoint node_id verified <<<"$output" | grep "^$TC")" = "$TC	$C_ID	true" ]
	# without --strict: taken, and said
	run --separate-stderr st-crawl --tls --retest 0 --allow-private -o tsv --data-dir "$A_DIR" "$TB"
	[ "$status" -eq 0 ]
	[ "$(col endpoint status node_id verified <<<"$output" | grep "^$TC")" = "$TC	ok	$D_ID	true" ]
	[[ "$stderr" == *"$TC: identity changed: it proved $D_ID, it was $C_ID"* ]]
}

@test "crawl: non-routable addresses are followed only with --allow-private" {
	net3
	run --separate-stderr st-crawl "$N1"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "$N1 "*" yes ok "* ]]
	[[ "${stderr_lines[0]}" == "st-crawl: found 1, reachable 1 of 1 dialed, 1 new, 3 skipped, 0 left in the frontier, in "*s ]]
	# with it, the three follow (the seed answers its GetPeers once per 5 minutes: a new state)
	run --separate-stderr st-crawl -o tsv --allow-private --state other "$N2"
	[ "$status" -eq 0 ]
	[ "$(col endpoint <<<"$output" | sort)" = "$(printf '%s\n' "$N1" "$N2" | sort)" ]
}

@test "crawl: no node answers, exit 69; nothing to crawl, exit 66" {
	PORT=$(free_port 127.0.0.1)
	run --separate-stderr st-crawl -o tsv "127.0.0.9:$PORT"
	[ "$status" -eq 69 ]
	[ "$(col status <<<"$output")" = "refused" ]
	run st-crawl --state "$BATS_TEST_TMPDIR/empty"
	[ "$status" -eq 66 ]
	assert_output "st-crawl: nothing to crawl: no seeds, no frontier, no node due, an empty book"
}

@test "crawl: a full answer is asked again, excluding what it gave, until nothing new" {
	PORT=$(free_port 127.0.0.1)
	# a node with three peers that answers every GetPeers (no rate limit), and its peers
	printf '%s\n' "127.0.0.1:$PORT honest 0 127.0.0.2:$PORT 127.0.0.3:$PORT 127.0.0.4:$PORT" \
		"127.0.0.2:$PORT honest 0" "127.0.0.3:$PORT honest 0" "127.0.0.4:$PORT honest 0" >spec
	start_bg FAKE python3 "$ST_TOP/tests/sim/fake-nodes.py" spec
	wait_for_line "$BATS_TEST_TMPDIR/FAKE.out" '^listening 4' 20
	run --separate-stderr st-crawl --allow-private --getpeers 1 --ask-interval 0 --max-asks 10 \
		-o tsv "127.0.0.1:$PORT"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 4 ]
	# one record for the seed: three answers of one, then an empty one ended the asking
	[ "$(col endpoint peers_offered learned <<<"$output" | grep "^127.0.0.1:")" = "127.0.0.1:$PORT	3	3" ]
	# at most --max-asks: two asks give two peers, the third stays unknown
	run --separate-stderr st-crawl --allow-private --getpeers 1 --ask-interval 0 --max-asks 2 \
		--state two -o tsv "127.0.0.1:$PORT"
	[ "$status" -eq 0 ]
	[ "$(col endpoint peers_offered <<<"$output" | grep "^127.0.0.1:")" = "127.0.0.1:$PORT	2" ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
}

@test "crawl: --max-time ends a run; a node that did not answer stays in the frontier" {
	start_bg SILENT python3 "$ST_TOP/tests/bats/tools/peer.py" silent
	wait_for_line "$BATS_TEST_TMPDIR/SILENT.out" '^listening ' 20
	addr=$(sed -n 's/^listening //p' "$BATS_TEST_TMPDIR/SILENT.out")
	run --separate-stderr st-crawl --timeout 5m --max-time 1s "$addr"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 0 ]
	[[ "${stderr_lines[0]}" == "st-crawl: found 1, reachable 0 of 0 dialed, 1 new, 0 skipped, 1 left in the frontier, in "*"s (time is up)" ]]
	run st-crawl dump -o tsv
	[ "$(records <<<"$output" | grep -c .)" -eq 0 ]
}

@test "resume: a run cut short by --max-nodes leaves a frontier the next run continues" {
	net3
	run --separate-stderr st-crawl --allow-private --max-nodes 1 -o tsv "$N1"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 1 ]
	[ "$(col metric value <<<"$stderr" | grep frontier)" = $'frontier\t3' ]
	# the rerun dials the frontier only: the seed was tried a moment ago
	run --separate-stderr st-crawl --allow-private -o tsv
	[ "$status" -eq 0 ]
	[ "$(col endpoint <<<"$output" | sort)" = "$(printf '%s\n' "$N2" "$N3" "$DEAD" | sort)" ]
	[ "$(col metric value <<<"$stderr" | grep frontier)" = $'frontier\t0' ]
	# a third run has nothing due and an empty book to fall back on
	run st-crawl --allow-private
	[ "$status" -eq 66 ]
	# with --retest 0 every known node is due again
	run --separate-stderr st-crawl --allow-private --retest 0 -o tsv
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 4 ]
	# the state survives as a journal the store replays: four nodes, each tried twice
	run st-crawl dump -o tsv --allow-private
	[ "$(col endpoint attempts <<<"$output" | sort)" = "$(printf '%s\t2\n' "$N1" "$N2" "$N3" "$DEAD" | sort)" ]
}

@test "crawl: --every crawls again and retests; --update feeds both books" {
	net3
	export ST_ADDRBOOK_ALLOW_PRIVATE=true
	start_bg EVERY st-crawl --allow-private --every 1s --update -o tsv "$N1"
	for i in $(seq 100); do
		[ "$(grep -c "^$N2	true" "$BATS_TEST_TMPDIR/EVERY.out")" -ge 2 ] && break
		sleep 0.1
	done
	stop_bg EVERY
	cat "$BATS_TEST_TMPDIR/EVERY.err"
	[ "$(grep -c "^$N2	true" "$BATS_TEST_TMPDIR/EVERY.out")" -ge 2 ]
	grep -q "st-crawl: interrupted" "$BATS_TEST_TMPDIR/EVERY.err"
	run st-addrbook list -o tsv
	[ "$status" -eq 0 ]
	[ "$(col endpoint source <<<"$output" | sort)" = "$(printf '%s\tcrawl\n' "$N1" "$N2" "$N3" | sort)" ]
	[ "$(col endpoint successes <<<"$output" | grep "^$N2" | cut -f2)" -ge 2 ]
	run st-peers list -o tsv
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
}

@test "dump: the seeder's columns; uptime decays by window, good follows the seeder's rule" {
	net3
	export ST_FAKE_NOW=1700000000
	run st-crawl --allow-private "$N1"
	[ "$status" -eq 0 ]
	stop_bg L3
	# an hour later node 3 is gone: share = e^(-1h/tau) in each window
	export ST_FAKE_NOW=1700003600
	run st-crawl --allow-private --retest 1h -o tsv
	[ "$status" -eq 0 ]
	run --separate-stderr st-crawl dump -o tsv --allow-private
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = $'#endpoint\tgood\tlast_success\tuptime_2h\tuptime_8h\tuptime_1d\tuptime_7d\tuptime_30d\tblocks\tservices\tversion\tuser_agent\tattempts\tsuccesses\tnode_id\tverified' ]
	# no chain height in the handshake: blocks is null, not a made-up number
	[ "$(col blocks <<<"$output" | sort -u)" = "-" ]
	[ "$(col endpoint good last_success uptime_2h uptime_8h attempts successes <<<"$output" | grep "^$N3")" = \
		"$N3	true	1700000000	60.6531	88.2497	2	1" ]
	[ "$(col endpoint good uptime_2h <<<"$output" | grep "^$N1")" = "$N1	true	100" ]
	[ "$(col endpoint good <<<"$output" | grep "^$DEAD")" = "$DEAD	false" ]
	# without --allow-private a loopback node is never good
	run st-crawl dump -o tsv
	[ "$(col good <<<"$output" | sort -u)" = "false" ]
	# text lines up like dnsseed.dump: address, good, Unix time, percentages
	run st-crawl dump --allow-private --good
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "# address"*"%(2h)"*"%(30d)"* ]]
	[[ "$output" == *"$N3"*"   1   1700000000   60.65%  88.25%"* ]]
	[[ "$output" != *"$DEAD"* ]]
	# read by position, as makeseeds.py reads dnsseed.dump: 12 blank-separated fields
	run st-crawl dump --allow-private
	[ "$(grep -v '^#' <<<"$output" | awk '{ print NF }' | sort -u)" = 12 ]
	run python3 "$ST_TOP/tests/bats/tools/seeds-by-position.py" <<<"$output"
	[ "$status" -eq 0 ]
	[ "$(grep "^127.0.0.3	" <<<"$output")" = "127.0.0.3	$PORT	1	1700000000	99.86	0	1	1	st/$(cat "$ST_TOP/VERSION")" ]
	[ "$(grep "^127.0.0.9	" <<<"$output" | cut -f3,4)" = "0	0" ]
}

@test "dump: IPv6 and IPv4 alike, read by position; services in hex, the agent last" {
	craft_state s 2 2
	run st-crawl dump --state s
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "# address "*" good  lastSuccess    %(2h)   %(8h)   %(1d)   %(7d)  %(30d)  blocks      svcs  version" ]]
	[[ "${lines[1]}" == "1.1.0.1:7777 "*"   1   1700000000  100.00% 100.00% 100.00% 100.00% 100.00%       0  00000001      1 \"st/0.1.0\"" ]]
	run python3 "$ST_TOP/tests/bats/tools/seeds-by-position.py" <<<"$output"
	[ "$status" -eq 0 ]
	[ "$(sort <<<"$output")" = "$(printf '%s\n' \
		"1.1.0.1	7777	1	1700000000	100.00	0	1	1	st/0.1.0" \
		"1.1.0.2	7777	1	1700000000	100.00	0	0	1	st/0.1.0" \
		"2001:1::1	7777	1	1700000000	100.00	0	1	1	st/0.1.0" \
		"2001:1::2	7777	1	1700000000	100.00	0	0	1	st/0.1.0" | sort)" ]
}

@test "export-seeds: capped per /16 and /32, read back by st-seed, signed" {
	craft_state state 60 20
	run st-crawl export-seeds --state state -n 10 --per-group 2
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "# st-crawl seeds: 10 nodes, generated "* ]]
	[ "$(grep -vc '^#' <<<"$output")" -eq 10 ]
	# at most two per /16 (1.G.*) or /32 (2001:G::)
	[ "$(grep -v '^#' <<<"$output" | sed 's/^[^@]*@//; s/^\(1\.[0-9]*\)\..*/\1/; s/^\[\(2001:[0-9a-f]*\):.*/\1/' | sort | uniq -c | awk '$1 > 2' | wc -l)" -eq 0 ]
	run st-crawl export-seeds --state state -n 1000 --per-group 1 --format json --out seeds.json
	[ "$status" -eq 0 ]
	run st-seed fetch -o tsv seeds.json
	[ "$status" -eq 0 ]
	# 6 /16s of IPv4 and 2 /32s of IPv6, one each; st-seed keeps the ids
	[ "$(records <<<"$output" | wc -l)" -eq 8 ]
	assert_line $'1.1.0.1:7777\tseed:seeds.json\tid0'
	assert_line $'[2001:1::1]:7777\tseed:seeds.json\tid60'
	# signed with an Ed25519 key, checked as st-seed checks any list
	openssl genpkey -algorithm ed25519 -out seed.key 2>/dev/null
	chmod 600 seed.key
	run st-crawl export-seeds --state state --key seed.key --out seeds.txt
	[ "$status" -eq 0 ]
	[ -s seeds.txt.sig ]
	run st-seed fetch --public-key seed.key -o tsv seeds.txt
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 16 ]
	echo "6.6.6.6:7777" >>seeds.txt
	run st-seed fetch --public-key seed.key seeds.txt
	[ "$status" -ne 0 ]
	assert_output --partial "bad signature"
	# --min-uptime filters on the 30-day window; --key needs --out
	run st-crawl export-seeds --state state --min-uptime 100.5
	[ "$status" -eq 2 ]
	run st-crawl export-seeds --state state --key seed.key
	[ "$status" -eq 2 ]
}

# answer K: the lines of the K-th answer of the last dnsq run (without its "?" line).
answer() {
	awk -v k="$1" '/^\? / { on = ($2 == k); next } on' <<<"$output"
}

@test "serve-dns: A and AAAA from good nodes, capped to 512 bytes, filters, NS and SOA" {
	craft_state state 100 40
	start_dns_seed DNS --zone seed.test --bind 127.0.0.1:0 --state state --ttl 5m
	run dnsq "$DNS_ADDR" seed.test A seed.test A seed.test A seed.test A SEED.test. AAAA \
		x1.seed.test A x2.seed.test A seed.test NS seed.test SOA
	[ "$status" -eq 0 ]
	read -r rcode aa tc size an _ <<<"$(answer 1 | head -1)"
	[ "$rcode $aa $tc" = "rcode=0 aa=1 tc=0" ]
	[ "${size#size=}" -le 512 ]
	[ "${an#an=}" -ge 20 ]
	# as many as fit, no more: one more A record would pass 512 bytes
	[ $(( ${size#size=} + 16 )) -gt 512 ]
	[ "$(answer 1 | grep -c '^an A seed.test ttl=300 1\.')" -eq "${an#an=}" ]
	# a random subset each time
	first=$(answer 1 | grep '^an' | sort)
	[ "$(answer 2 | grep '^an' | sort)" != "$first" ] || [ "$(answer 3 | grep '^an' | sort)" != "$first" ] ||
		[ "$(answer 4 | grep '^an' | sort)" != "$first" ]
	read -r rcode aa tc size an _ <<<"$(answer 5 | head -1)"
	[ "$rcode $tc" = "rcode=0 tc=0" ]
	[ "${size#size=}" -le 512 ]
	[ "${an#an=}" -ge 10 ]
	[ "$(answer 5 | grep -c '^an AAAA SEED.test ttl=300 2001:')" -eq "${an#an=}" ]
	# x1: only nodes with service bit 1 (the even ones: last octet odd in the craft)
	[ "$(answer 6 | grep -c '^an A')" -ge 20 ]
	[ "$(answer 6 | grep '^an A' | awk '{ split($5, o, "."); print o[4] % 2 }' | sort -u)" = "1" ]
	# x2: no node has bit 2: no data, the SOA in the authority section
	[[ "$(answer 7 | head -1)" == "rcode=0 aa=1 tc=0 size="*" an=0 ns=1" ]]
	[[ "$(answer 7 | sed -n 2p)" == "ns SOA seed.test ttl=300 seed.test hostmaster.seed.test "* ]]
	[ "$(answer 8 | sed -n 2p)" = "an NS seed.test ttl=300 seed.test" ]
	[[ "$(answer 9 | sed -n 2p)" == "an SOA seed.test ttl=300 seed.test hostmaster.seed.test "*" 3600 600 86400 300" ]]
	# st-seed reads it as any DNS seed
	run st-seed dns --resolver "$DNS_ADDR" -o tsv seed.test
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -ge 30 ]
}

@test "serve-dns: refused outside the zone, NXDOMAIN inside, small answers, a rate limit" {
	craft_state state 100 0
	start_dns_seed DNS --zone seed.test --bind 127.0.0.1:0 --state state
	start_dns_seed SLOW --zone seed.test --bind 127.0.0.1:0 --state state --rate 1 -v
	run dnsq "$DNS_ADDR" example.com A notseed.test A www.seed.test A seed.test ANY
	[ "$status" -eq 0 ]
	[[ "$(answer 1 | head -1)" == "rcode=5 aa=0 tc=0 "*" an=0 ns=0" ]]
	[[ "$(answer 2 | head -1)" == "rcode=5 "* ]]
	[[ "$(answer 3 | head -1)" == "rcode=3 aa=1 tc=0 "*" an=0 ns=1" ]]
	# ANY gets no data: never a large answer to a small question
	read -r rcode aa tc size an ns <<<"$(answer 4 | head -1)"
	[ "$rcode $an $ns" = "rcode=0 an=0 ns=1" ]
	[ "${size#size=}" -le 120 ]
	# st-seed hears the refusal
	run st-seed dns --resolver "$DNS_ADDR" example.com
	[ "$status" -eq 69 ]
	assert_output "st-seed: example.com: error to A: the server answered REFUSED (rcode 5)"
	# a burst of 4 per second at --rate 1; the rest is dropped without a word
	run dnsq --burst 20 "$SLOW_ADDR" seed.test A
	[ "$status" -eq 0 ]
	got=${output#replies=}
	[ "$got" -ge 1 ]
	[ "$got" -le 6 ]
	wait_for_line "$BATS_TEST_TMPDIR/SLOW.err" 'dropped \(rate limit\)' 5
	# the log (-v): one key=value line per query
	grep -qE '^level=debug event=query client=127\.0\.0\.1:[0-9]+ name=seed\.test type=1 result="dropped \(rate limit\)"$' \
		"$BATS_TEST_TMPDIR/SLOW.err" || { cat "$BATS_TEST_TMPDIR/SLOW.err"; false; }
}

@test "the network in a box: 20 nodes, every live one found, no dead one reachable" {
	run "$ST_TOP/tests/sim/net-in-a-box" -n 20 -j 8 --rng 7
	echo "$output"
	[ "$status" -eq 0 ]
	assert_line "result         ok"
	assert_line --regexp '^found          [0-9]+ endpoints, 18 reachable \(live: 18\)'
	assert_line "live missed    0"
	assert_line "dead reachable 0"
}

@test "end to end: crawl the box, serve its DNS seed, st-seed dns | st-addrbook add: live nodes only" {
	run "$ST_TOP/tests/sim/net-in-a-box" -n 20 --rng 3 --state "$BATS_TEST_TMPDIR/box-state" \
		--live-file live.txt
	[ "$status" -eq 0 ]
	port=$(head -1 live.txt | sed 's/.*://')
	start_dns_seed DNS --zone seed.example.net --bind 127.0.0.1:0 --state "$BATS_TEST_TMPDIR/box-state" \
		--allow-private --port "$port"
	mkdir fresh
	run bash -c "st-seed dns --resolver '$DNS_ADDR' --port '$port' seed.example.net |
		st-addrbook --data-dir fresh add --allow-private"
	[ "$status" -eq 0 ]
	run st-addrbook --data-dir fresh list -o tsv
	[ "$status" -eq 0 ]
	col endpoint <<<"$output" | sort >book.txt
	[ "$(wc -l <book.txt)" -eq "$(wc -l <live.txt)" ]
	[ -z "$(comm -23 book.txt live.txt)" ]
}

@test "the network in a box, gossip: 20 nodes exchange peers until every honest book holds 90% of the live ones; the quota caps each source group" {
	# ask 6: the first round dials every seeded neighbour, so the honest nodes that know a
	# hostile one meet it, and its 100 fakes meet the quota (40) at once. The rounds are
	# bounded, not timed: each starts in a later second than the last one's requests, so
	# the listeners' 1s GetPeers limit never answers empty.
	run "$ST_TOP/tests/sim/net-in-a-box" --gossip -n 20 --rng 7 --ask 6 --capacity 400 \
		--delay 50 --parallel 10 --timeout 10s --max-rounds 12
	echo "$output"
	[ "$status" -eq 0 ]
	assert_line "result         ok"
	assert_line --regexp '^converged      round ([1-9]|1[0-2]), '
	# the hostile groups filled their quota and no more; so did no other group
	assert_line --regexp '^  quota bound  from the 4 hostile source groups: at most 4 x 40 = 160 entries in any book; measured max [0-9]+ \(per group max 40 <= 40\)$'
	assert_line --regexp 'every source group, honest or not, holds at most ([1-3]?[0-9]|40) entries of any book \(quota 40\)$'
	assert_line --regexp '^  refused      [1-9][0-9]* gossiped addresses refused for a full source-group quota$'
	assert_line --regexp '^st-listen      VmHWM max [0-9]+ KiB, mean [0-9]+ KiB; descriptors max [0-9]+ '
}
