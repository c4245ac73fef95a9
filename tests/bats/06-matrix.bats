#!/usr/bin/env bats
# Every producer of records into every consumer that takes them, once in tsv and
# once in json: the books must end identical whichever format carried the
# records. Real st-listen nodes and a real HTTP server on loopback.

load helpers

# produce FMT: writes every producer's output in FMT to out.FMT/NAME
produce() {
	local f=$1 d="$BATS_TEST_TMPDIR/out.$1" n
	mkdir -p "$d"
	# fresh listeners on the same ports: each answers one GetPeers per address
	# and interval, and both formats ask
	for n in 1 2; do
		stop_bg "N$n"
		local was="N${n}_ADDR"
		start_listener "N$n" --bind "${!was}" --data-dir "$BATS_TEST_TMPDIR/n$n"
	done
	st-seed fetch -q -o "$f" "$WEB_URL/peers.txt" >"$d/seed"
	st-addrbook --data-dir "$SRC" best -n 20 -o "$f" >"$d/best"
	st-addrbook --data-dir "$SRC" list -o "$f" >"$d/list"
	st-addrbook --data-dir "$SRC" export >"$d/export"
	st-connect --data-dir "$SRC" -q -o "$f" "$N1_ADDR" "$N2_ADDR" "127.0.0.1:$CLOSED" >"$d/dial" || true
	st-connect --data-dir "$SRC" -q -o "$f" --getpeers 100 "$N1_ADDR" "$N2_ADDR" >"$d/gossip"
	st-peers --data-dir "$SRC" list -o "$f" >"$d/peers"
	st-peers --data-dir "$SRC" bans -o "$f" >"$d/bans"
	# st-listen: two nodes that say where they listen, one that does not
	start_bg "LST$f" st-listen --data-dir "$SRC" --bind 127.0.0.1:0 -o "$f"
	wait_for_line "$BATS_TEST_TMPDIR/LST$f.err" '^listening ' 10
	local at
	at=$(sed -n 's/^listening //p' "$BATS_TEST_TMPDIR/LST$f.err")
	python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$at" in-1 "$N1_PORT" >/dev/null
	python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$at" in-2 "$N2_PORT" >/dev/null
	python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$at" in-3 0 >/dev/null
	wait_for_line "$BATS_TEST_TMPDIR/LST$f.out" 'in-3' 10
	stop_bg "LST$f"
	cp "$BATS_TEST_TMPDIR/LST$f.out" "$d/inbound"
}

# consume FMT: feeds out.FMT/* to every consumer, into the data dir book.FMT
consume() {
	local d="$BATS_TEST_TMPDIR/out.$1"
	export ST_DATA_DIR="$BATS_TEST_TMPDIR/book.$1" ST_FAKE_NOW=1800000000
	local p
	for p in seed best list export gossip peers; do
		st-addrbook add --allow-private -q <"$d/$p" || [ $? -eq 65 ]
	done
	st-addrbook record -q <"$d/dial" || [ $? -eq 65 ]
	st-addrbook record -q <"$d/inbound" || [ $? -eq 65 ]
	st-peers ingest -q <"$d/dial" >/dev/null
	st-peers ingest -q <"$d/inbound" >/dev/null
	# bans name targets, not endpoints: no consumer takes them, and says so
	run st-peers ingest -q <"$d/bans"
	[ "$status" -eq 65 ]
	for p in best list export seed peers gossip; do
		st-connect -q -o json --timeout 2s <"$d/$p" >"$d/connect-$p" || true
	done
	unset ST_FAKE_NOW
	export ST_DATA_DIR="$BATS_TEST_TMPDIR/data"
}

@test "every producer into every consumer: tsv and json leave the same books" {
	mkdir www
	printf '127.0.4.%d:7777\n' 1 2 3 >www/peers.txt
	start_httpd WEB www
	SRC="$BATS_TEST_TMPDIR/src"
	st-addrbook --data-dir "$BATS_TEST_TMPDIR/n1" add --allow-private -q 127.0.1.1:7777 127.0.1.2:7777
	st-addrbook --data-dir "$BATS_TEST_TMPDIR/n2" add --allow-private -q 127.0.2.1:7777
	start_listener N1 --data-dir "$BATS_TEST_TMPDIR/n1"
	start_listener N2 --data-dir "$BATS_TEST_TMPDIR/n2"
	N1_PORT=${N1_ADDR##*:} N2_PORT=${N2_ADDR##*:} CLOSED=$(free_port)
	st-addrbook --data-dir "$SRC" add --allow-private -q "$N1_ADDR" "$N2_ADDR" \
		"127.0.0.1:$CLOSED" 127.0.3.1:7777
	st-addrbook --data-dir "$SRC" pin -q 127.0.3.1:7777
	st-connect --data-dir "$SRC" -q --update "$N1_ADDR" "$N2_ADDR" "127.0.0.1:$CLOSED" || true
	st-peers --data-dir "$SRC" ban -q --reason 'a test' 127.0.9.0/24 >/dev/null
	for f in tsv json; do
		produce "$f"
		consume "$f"
	done
	# the tsv streams describe themselves, and the records are the same ones
	for p in seed best list dial gossip peers bans inbound; do
		head -1 "out.tsv/$p" | grep -q '^#[a-z]' || { echo "$p: no tsv header"; false; }
		[ "$(grep -vc '^#' "out.tsv/$p")" -eq "$(wc -l <"out.json/$p")" ] ||
			{ echo "$p: tsv and json differ in records"; false; }
	done
	# st-files(5) lists each kind's columns as the programs print them
	for p in seed best dial gossip peers bans inbound; do
		cols=$(head -1 "out.tsv/$p" | sed 's/^#//; s/\t/ /g')
		grep -qx "$cols" "$ST_TOP/man/st-files.5" || { echo "$p: '$cols' not in st-files(5)"; false; }
	done
	# something reached each consumer
	[ "$(grep -vc '^#' "out.tsv/inbound")" -eq 3 ]
	grep -q '"endpoint":null' out.json/inbound
	# the books are identical, whichever format carried the records
	ST_DATA_DIR=book.tsv st-addrbook export >tsv.book
	ST_DATA_DIR=book.json st-addrbook export >json.book
	diff tsv.book json.book
	[ "$(grep -vc '^#' tsv.book)" -ge 9 ]
	grep -q $'\tseed:'"$WEB_URL/peers.txt"'$' tsv.book
	grep -q $'\tgossip:' tsv.book
	ST_DATA_DIR=book.tsv st-peers list -o json >tsv.peers
	ST_DATA_DIR=book.json st-peers list -o json >json.peers
	diff tsv.peers json.peers
	grep -q '"node_id":"in-1"' tsv.peers
	! grep -q '"node_id":"in-3"' tsv.peers
	# st-connect dialed the same endpoints from either format, and got the same answers
	for p in best list export seed peers gossip; do
		diff <(sed 's/"rtt_ms":[0-9null]*,//; s/"error":"[^"]*"/E/' "out.tsv/connect-$p" | cut -d, -f1,2 | sort) \
			<(sed 's/"rtt_ms":[0-9null]*,//; s/"error":"[^"]*"/E/' "out.json/connect-$p" | cut -d, -f1,2 | sort)
		[ -s "out.tsv/connect-$p" ] || { echo "connect-$p: nothing dialed"; false; }
	done
}
