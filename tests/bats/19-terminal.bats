#!/usr/bin/env bats
# What changes on a terminal (aligned columns fitted to the width, colour,
# progress, st-connect's summary) and that a pipe gets the plain lines of before.
load helpers

# on_tty COLS [ptyrun options] -- CMD...: CMD on a pseudo-terminal COLS wide
on_tty() {
	local cols=$1
	shift
	python3 "$ST_TOP/tests/bats/tools/ptyrun.py" --cols "$cols" "$@"
}

# max_width: the widest line of stdin in terminal columns (UTF-8, colours not counted)
max_width() {
	python3 -c '
import re, sys
w = 0
for line in sys.stdin.buffer.read().decode("utf-8").split("\n"):
    w = max(w, len(re.sub(r"\x1b\[[0-9;]*[mK]", "", line)))
print(w)'
}

LONG_SOURCE="seed:a-very-long-source-name-that-goes-on-and-on.example.org/peers.txt"

book() {
	export ST_FAKE_NOW=1700000000
	st-addrbook add -q --source="$LONG_SOURCE" 1.2.3.4:8333 5.6.7.8:18444
	export ST_FAKE_NOW=1700000180
}

@test "list on a terminal: a header, aligned columns, relative times, cut to the width with an ellipsis" {
	book
	for cols in 60 100 200; do
		run on_tty "$cols" -- st-addrbook list
		[ "$status" -eq 0 ]
		[ "$(max_width <<<"$output")" -le "$cols" ]
		[[ "${lines[0]}" == "ENDPOINT  "*"QUAL"* ]]
		[[ "${lines[1]}" == "1.2.3.4:8333   "* ]]
		[[ "${lines[2]}" == "5.6.7.8:18444  "* ]]
		# the columns line up: the second column starts at the same place on every line
		[ "${lines[1]:15:4}" = "0.50" ]
		[ "${lines[2]:15:4}" = "0.50" ]
		[ "${lines[0]:15:4}" = "QUAL" ]
		[[ "${lines[1]}" == *"3m ago"* ]]
	done
	# wide enough for all: the source whole; narrower: cut with "…", never wrapped
	run on_tty 200 -- st-addrbook list
	[[ "${lines[1]}" == *"$LONG_SOURCE" ]]
	run on_tty 100 -- st-addrbook list
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[1]}" == *"seed:a-very-"*"…" ]]
	[[ "${lines[1]}" != *"$LONG_SOURCE"* ]]
	# COLUMNS is not asked when the terminal tells its width
	COLUMNS=300 run on_tty 100 -- st-addrbook list
	[ "$(max_width <<<"$output")" -le 100 ]
}

@test "list in a pipe: the plain lines of before, byte for byte, whatever the terminal" {
	book
	expected="1.2.3.4:8333           q=0.50 ok=0 fail=0 (0 in a row) tries=0 first 3m ago   seen 3m ago   tried never    reached never    routable pinned=no $LONG_SOURCE
5.6.7.8:18444          q=0.50 ok=0 fail=0 (0 in a row) tries=0 first 3m ago   seen 3m ago   tried never    reached never    routable pinned=no $LONG_SOURCE"
	[ "$(st-addrbook list)" = "$expected" ]
	# stdout a file, stderr the terminal: still the plain lines
	on_tty 40 --stdout "$BATS_TEST_TMPDIR/list.out" -- st-addrbook list
	[ "$(cat "$BATS_TEST_TMPDIR/list.out")" = "$expected" ]
	COLUMNS=40 run st-addrbook list
	[ "$output" = "$expected" ]
}

@test "colour on a terminal for statuses only; none under NO_COLOR, TERM=dumb or in a pipe" {
	start_listener L
	port=$(free_port)
	TERM=xterm run on_tty 120 -- st-connect "$L_ADDR" "127.0.0.1:$port"
	[[ "$output" == *$'\e[32mok\e[0m'* ]]
	[[ "$output" == *$'\e[31mrefused\e[0m'* ]]
	TERM=xterm NO_COLOR=1 run on_tty 120 -- st-connect "$L_ADDR" "127.0.0.1:$port"
	[[ "$output" == *"refused"* ]]
	[[ "$output" != *$'\e['*m* ]]
	TERM=dumb run on_tty 120 -- st-connect "$L_ADDR" "127.0.0.1:$port"
	[[ "$output" == *"refused"* ]]
	[[ "$output" != *$'\e['* ]]
	TERM=xterm run st-connect "$L_ADDR" "127.0.0.1:$port"
	[[ "$output" != *$'\e['* ]]
	stop_all_bg
}

@test "a ban's expiry reads 'in 2h' on a terminal; Unix seconds in tsv" {
	export ST_FAKE_NOW=1700000000
	st-peers ban -q --for 2h 10.0.0.1 --reason "flooding"
	run on_tty 100 -- st-peers bans
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "TARGET"*"EXPIRES"* ]]
	[[ "${lines[1]}" == "10.0.0.1/32  "*"now"*"in 2h"*"flooding"* ]]
	run st-peers bans -o tsv
	assert_line --partial "10.0.0.1/32	"
	assert_line --partial "	1700007200	"
}

@test "text from a peer is cut by its width on the terminal, not its bytes; bad UTF-8 shows as '?'" {
	ST_NODE_USER_AGENT="ünïcödé-wïdé-日本語-agent/1.0-with-a-long-tail-that-goes-on" start_listener L
	run on_tty 80 -- st-connect "$L_ADDR"
	[ "$(max_width <<<"$output")" -le 80 ]
	[[ "$output" == *"ünïcödé"* ]]
	stop_all_bg
}

@test "stats bars fit the terminal's width" {
	book
	for cols in 50 120; do
		run on_tty "$cols" -- st-addrbook stats
		[ "$status" -eq 0 ]
		[ "$(max_width <<<"$output")" -le "$cols" ]
		assert_line --regexp '^  total +2 #+$'
	done
	run on_tty 50 -- st-addrbook stats
	narrow=$(grep -o '#*$' <<<"$output" | head -1 | tr -d '\r')
	run on_tty 120 -- st-addrbook stats
	wide=$(grep -o '#*$' <<<"$output" | head -1 | tr -d '\r')
	[ "${#wide}" -gt "${#narrow}" ]
	# a pipe: the records of before
	run st-addrbook stats
	assert_line "total total 2"
}

# hanging_port NAME: a port that accepts and never says a word (sets NAME_ADDR)
hanging_port() {
	start_bg "$1" python3 "$ST_TOP/tests/bats/tools/peer.py" silent
	wait_for_line "$BATS_TEST_TMPDIR/$1.out" '^listening ' 10
	printf -v "$1_ADDR" '%s' "$(sed -n 's/^listening //p' "$BATS_TEST_TMPDIR/$1.out")"
}

@test "st-connect on a terminal: a progress line, cleared, then the summary; none in a pipe or with -q" {
	start_listener L
	hanging_port H
	port=$(free_port)
	run on_tty 100 --stdout "$BATS_TEST_TMPDIR/dial.out" -- \
		st-connect --timeout 2s "$L_ADDR" "127.0.0.1:$port" "$H_ADDR"
	[ "$status" -eq 0 ]
	# drawn (at the dial that ended after a second), then erased before the summary
	[[ "$output" == *$'\rst-connect: 3/3 dialed, 1 ok\e[K'* ]]
	[[ "$output" == *$'\r\e[K'"st-connect: 3 dialed in "*"s: 1 ok, 1 refused, 1 timeout" ]]
	[ "$(records <"$BATS_TEST_TMPDIR/dial.out" | wc -l)" -eq 3 ]
	# the records are the plain lines: stdout is a file
	grep -q '^127.0.0.1:[0-9]* *timeout *- verified=no - "-" - no handshake$' "$BATS_TEST_TMPDIR/dial.out"
	# -q: nothing on the terminal
	run on_tty 100 --stdout /dev/null -- st-connect -q --timeout 2s "$L_ADDR" "$H_ADDR"
	[ -z "$output" ]
	# a pipe: neither progress nor summary
	run st-connect --timeout 2s "$L_ADDR" "$H_ADDR"
	[[ "$output" != *"dialed"* ]]
	[[ "$output" != *$'\r'* ]]
	# -v asks for the summary in a pipe too
	run st-connect -v "$L_ADDR"
	assert_line --regexp '^st-connect: 1 dialed in [0-9.]+s: 1 ok$'
	stop_all_bg
}

@test "st-crawl on a terminal: a progress line, cleared before the summary; none in a pipe or with -q" {
	start_listener L
	hanging_port H
	run on_tty 100 --stdout "$BATS_TEST_TMPDIR/crawl.out" -- \
		st-crawl --state "$BATS_TEST_TMPDIR/crawl" --timeout 1500ms "$L_ADDR" "$H_ADDR"
	[ "$status" -eq 0 ]
	# drawn at the result that came after a second (the silent one's timeout), then erased
	[[ "$output" == *$'\rst-crawl: 2 dialed of 2 found, 1 reachable\e[K'* ]]
	[[ "$output" == *$'\r\e[K'"st-crawl: found 2, reachable 1 of 2 dialed"* ]]
	[ "$(records <"$BATS_TEST_TMPDIR/crawl.out" | wc -l)" -eq 2 ]
	# -q: nothing on the terminal
	run on_tty 100 --stdout /dev/null -- \
		st-crawl -q --state "$BATS_TEST_TMPDIR/crawl" --retest 0 --timeout 1500ms "$L_ADDR" "$H_ADDR"
	[ -z "$output" ]
	# a pipe: the summary, never a progress line
	run st-crawl --state "$BATS_TEST_TMPDIR/crawl" --retest 0 --timeout 1500ms "$L_ADDR" "$H_ADDR"
	[[ "$output" == *"found 2, reachable 1 of 2 dialed"* ]]
	[[ "$output" != *$'\r'* ]]
	stop_all_bg
}

@test "the summary counts banned endpoints apart and says when Peers answers came back empty (rate-limited)" {
	start_listener L
	st-peers ban -q 127.0.0.9
	# one run asks twice: the listener answers one address once a minute, then empty
	st-addrbook add -q 11.1.2.3:7777
	run on_tty 200 --stdout /dev/null -- st-connect --getpeers "$L_ADDR" "$L_ADDR" 127.0.0.9:1
	assert_line --regexp '^st-connect: 2 dialed in [0-9.]+s: 2 ok \([12] with an empty Peers answer: rate-limited, or it knows none\); 1 banned, not dialed$'
	run st-connect -v --getpeers "$L_ADDR"
	assert_line "st-connect: $L_ADDR: ok, no peers: an empty answer (rate-limited, or it knows none)"
	stop_all_bg
}

@test "bulk add shows its progress on a terminal once it takes more than a second, then clears it" {
	mkfifo "$BATS_TEST_TMPDIR/in.fifo"
	{
		for i in $(seq 1 50); do echo "11.0.$i.1:7777"; done
		sleep 1.2
		for i in $(seq 51 100); do echo "11.0.$i.1:7777"; done
	} >"$BATS_TEST_TMPDIR/in.fifo" &
	run on_tty 80 --stdin "$BATS_TEST_TMPDIR/in.fifo" -- st-addrbook add
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\rst-addrbook: '[0-9]*' read: '[0-9]*$' added, 0 duplicate\e[K'* ]]
	[[ "$output" == *$'\r\e[K'"st-addrbook: 100 added, 0 duplicate, 0 rejected, 0 bad" ]]
	# the same in a pipe: the summary alone
	run st-addrbook add -o tsv 11.0.0.1:7777 </dev/null
	[ "$output" = "st-addrbook: 1 added, 0 duplicate, 0 rejected, 0 bad" ]
}

@test "import of the reference node's JSON book shows its progress on a terminal, then clears it" {
	mkfifo "$BATS_TEST_TMPDIR/in.fifo"
	{
		printf '[{"Address":"11.0.1.1","Port":7777},\n'
		sleep 1.2
		printf '{"Address":"11.0.2.1","Port":7777},{"Address":"11.0.3.1","Port":7777}]\n'
	} >"$BATS_TEST_TMPDIR/in.fifo" &
	run on_tty 80 --stdin "$BATS_TEST_TMPDIR/in.fifo" -- st-addrbook import -
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\rst-addrbook: '[0-2]' of 3: '[0-2]$' imported, 0 rejected\e[K'* ]]
	[[ "$output" == *$'\r\e[K'"st-addrbook: 3 imported, 0 rejected, 0 bad" ]]
	# under -q: no progress, no summary
	run on_tty 80 --stdin /dev/null -- st-addrbook import -q - </dev/null
	[[ "$output" != *$'\r'* ]]
}

@test "seed refresh shows its progress on a terminal when a seed is slow; -q draws none" {
	mkdir -p www
	printf '11.2.0.1:7777\n11.2.0.2:7777\n' >www/a.txt
	printf '11.3.0.1:7777\n' >www/b.txt
	start_httpd WEB www
	mkdir -p "$XDG_CONFIG_HOME/spacetime"
	cat >"$XDG_CONFIG_HOME/spacetime/st.yaml" <<-EOF
	seeds:
	  - url: $WEB_URL/a.txt
	  - url: $WEB_URL/hang/1.2/b.txt
	EOF
	run on_tty 100 --stdout /dev/null -- st-seed refresh
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\rst-seed: '[12]'/2 seeds done, '[0-9]$' added\e[K'* ]]
	[[ "$output" == *$'\r\e[K'* ]]
	run on_tty 100 --stdout /dev/null -- st-seed refresh -q
	[[ "$output" != *"seeds done"* ]]
	stop_all_bg
}
