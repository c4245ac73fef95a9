#!/usr/bin/env bats
# st-listen --metrics: Prometheus text over HTTP from the listener's own counters;
# the log on stderr: one key=value line per event, peer text escaped.

load helpers

# metrics_url NAME: the URL st-listen NAME logged for its metrics (it binds port 0).
metrics_url() {
	wait_for_line "$BATS_TEST_TMPDIR/$1.err" '^level=info event=metrics ' 10 || return 1
	sed -n 's/^level=info event=metrics .*url=\([^ ]*\).*/\1/p' "$BATS_TEST_TMPDIR/$1.err" | head -1
}

scrape() {
	"$ST_TOP/tests/bats/tools/prom-scrape" "$1"
}

@test "--metrics: the counters move with a real handshake, GetPeers, a ban and a refusal" {
	start_listener L1 --metrics 0 --max-per-ip 2
	url=$(metrics_url L1)
	[[ "$url" == http://127.0.0.1:*/metrics ]]
	run scrape "$url"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	assert_line 'st_listen_connections_accepted_total 0'
	assert_line 'st_listen_handshakes_total 0'
	assert_line 'st_listen_sessions_total{status="ok"} 0'
	assert_line 'st_listen_getpeers_total{result="served"} 0'
	assert_line --regexp '^process_start_time_seconds [0-9]{10}$'
	now=$(date +%s)
	start=$(sed -n 's/^process_start_time_seconds //p' <<<"$output")
	[ "$start" -le "$now" ]
	[ "$start" -ge $((now - 3600)) ]

	# a real handshake
	st-connect -q --ping "$L1_ADDR"
	# two GetPeers from one address: the second within the rate limit's interval
	run python3 "$ST_TOP/tests/bats/tools/peer.py" getpeers "$L1_ADDR" 127.0.0.1 127.0.0.1
	[ "${lines[1]}" = "127.0.0.1 0" ] || { echo "$output"; false; }
	# a banned address is closed at accept
	st-peers ban 127.0.0.2 >/dev/null
	reload_bans L1
	run python3 "$ST_TOP/tests/bats/tools/peer.py" getpeers "$L1_ADDR" 127.0.0.2
	[ "$output" = "127.0.0.2 closed" ]
	# a banned node id gets no HandshakeAck
	st-peers ban node-x >/dev/null
	reload_bans L1
	run python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$L1_ADDR" node-x 7777
	[ "$output" = closed ]
	# a third connection from one address over --max-per-ip 2
	python3 -c "
import socket, time
c = [socket.create_connection(('127.0.0.1', ${L1_ADDR##*:})) for _ in range(3)]; time.sleep(0.5)"
	wait_for_line "$BATS_TEST_TMPDIR/L1.err" 'status=refused-limit' 5
	wait_for_line "$BATS_TEST_TMPDIR/L1.err" 'event=session .*status=banned' 5
	run scrape "$url"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	assert_line 'st_listen_handshakes_total 3'
	assert_line 'st_listen_sessions_total{status="ok"} 3'
	assert_line 'st_listen_getpeers_total{result="served"} 1'
	assert_line 'st_listen_getpeers_total{result="rate_limited"} 1'
	assert_line 'st_listen_bans_refused_total{at="accept"} 1'
	assert_line 'st_listen_bans_refused_total{at="handshake"} 1'
	assert_line 'st_listen_sessions_total{status="banned"} 2'
	assert_line 'st_listen_refusals_total{reason="per_ip"} 1'
	assert_line 'st_listen_sessions_total{status="refused-limit"} 1'
	assert_line 'st_listen_evictions_total{reason="full"} 0'
	assert_line 'st_listen_evictions_total{reason="memory"} 0'
	# st-connect, two getpeers dials, the banned address, the banned id, three sockets
	assert_line 'st_listen_connections_accepted_total 8'
	in=$(sed -n 's/^st_listen_received_bytes_total //p' <<<"$output")
	out=$(sed -n 's/^st_listen_sent_bytes_total //p' <<<"$output")
	[ "$in" -gt 100 ] || { echo "received $in bytes"; false; }
	[ "$out" -gt 100 ] || { echo "sent $out bytes"; false; }
	# the two sockets still open or closing; none stays once they are gone
	for i in $(seq 50); do
		curl -s "$url" | grep -qx 'st_listen_connections_open 0' && break
		sleep 0.1
	done
	curl -s "$url" | grep -qx 'st_listen_connections_open 0'
}

@test "--metrics answers GET /metrics only: 404 elsewhere, 405 for another method, a bound on the request" {
	start_listener L1 --metrics 0
	url=$(metrics_url L1)
	base=${url%/metrics}
	code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
	[ "$(code "$url")" = 200 ]
	[ "$(code "$url?x=1")" = 200 ]
	[ "$(code "$base/")" = 404 ]
	[ "$(code "$base/metrics/x")" = 404 ]
	[ "$(code "$base/metricsx")" = 404 ]
	[ "$(code -X POST -d x=1 "$url")" = 405 ]
	[ "$(code -X DELETE "$url")" = 405 ]
	run curl -s -D - -o /dev/null -X PUT "$url"
	assert_line --partial 'Allow: GET'
	# headers past the bound (8 KiB) are refused, and the server goes on
	big=$(head -c 20000 /dev/zero | tr '\0' a)
	c=$(code -H "X-Big: $big" "$url")
	[ "$c" != 200 ] || { echo "a 20 KB header got $c"; false; }
	c=$(code --data-binary "@/dev/stdin" -X GET "$url" < <(head -c 5000 /dev/zero))
	[ "$c" != 200 ] || { echo "a 5 KB body got $c"; false; }
	[ "$(code "$url")" = 200 ]
	# the peer port still handshakes
	run st-connect -o tsv "$L1_ADDR"
	[ "$(col status <<<"$output")" = ok ]
}

@test "--metrics PORT and localhost:PORT bind loopback; listen.metrics in the config does the same; bad values are usage errors" {
	port=$(free_port)
	start_listener L1 --metrics "$port"
	[ "$(metrics_url L1)" = "http://127.0.0.1:$port/metrics" ]
	scrape "http://127.0.0.1:$port/metrics" >/dev/null
	stop_bg L1
	start_listener L2 --metrics localhost:0
	[[ "$(metrics_url L2)" == http://127.0.0.1:*/metrics ]]
	printf 'listen:\n  metrics: "[::1]:0"\n' >st.yaml
	start_listener L3 --config st.yaml
	url=$(metrics_url L3)
	[[ "$url" == 'http://[::1]:'*/metrics ]] || { echo "$url"; false; }
	run scrape "$url"
	[ "$status" -eq 0 ]
	# no warning for loopback
	run grep -q 'level=warn event=metrics' "$BATS_TEST_TMPDIR/L3.err"
	[ "$status" -eq 1 ]
	for bad in x 70000 1.2.3:80 -1 host.example:80; do
		run st-listen --bind 127.0.0.1:0 --metrics "$bad"
		[ "$status" -eq 2 ] || { echo "--metrics $bad: $status $output"; false; }
		assert_output --partial "--metrics"
	done
	# a port taken: the listener does not start (69)
	start_listener L4
	run st-listen --bind 127.0.0.1:0 --metrics "$L4_ADDR"
	[ "$status" -eq 69 ]
	assert_output --partial "cannot listen on $L4_ADDR"
}

@test "the log: one key=value line per session on stderr; a peer's control characters escaped" {
	start_listener L1
	run python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$L1_ADDR" evil-1 7777 $'ua\e[2J\nlevel=error event=forged "q" \\ \x7f\xc2\x9b'
	# refused (control characters in a handshake string), and logged as it came
	[ "$output" = closed ]
	wait_for_line "$BATS_TEST_TMPDIR/L1.err" 'node_id=evil-1' 5
	run grep 'node_id=evil-1' "$BATS_TEST_TMPDIR/L1.err"
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == 'level=info event=session peer=127.0.0.1:'*' status=protocol-error node_id=evil-1 verified=false version=1 user_agent="ua\x1b[2J\x0alevel=error event=forged \"q\" \\ \x7f\xc2\x9b" listen_port=0 duration_ms='*' getpeers=0 error="Handshake: control characters in a string"' ]] ||
		{ echo "$output"; false; }
	# nothing from the peer reached stderr raw: no ESC, no DEL, no C1 byte, no forged line
	run grep -q $'\e' "$BATS_TEST_TMPDIR/L1.err"
	[ "$status" -eq 1 ]
	run env LC_ALL=C grep -qaP '[\x7f\x80-\xff]' "$BATS_TEST_TMPDIR/L1.err"
	[ "$status" -eq 1 ]
	run grep -q '^level=error' "$BATS_TEST_TMPDIR/L1.err"
	[ "$status" -eq 1 ]
	# every line of the log is key=value from its first byte
	run grep -cv '^level=[a-z]* event=[a-z-]*\( \|$\)' "$BATS_TEST_TMPDIR/L1.err"
	[ "$output" -eq 0 ]
	# the record on stdout is still there for pipes
	grep -q 'evil-1' "$BATS_TEST_TMPDIR/L1.out"
	# a peer with a plain user agent is taken; its line needs no quotes
	run python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$L1_ADDR" good-1 7777 'good/1.0'
	[[ "$output" == "ack st-"* ]]
	wait_for_line "$BATS_TEST_TMPDIR/L1.err" 'node_id=good-1' 5
	grep -q '^level=info event=session endpoint=127\.0\.0\.1:7777 peer=127\.0\.0\.1:[0-9]* status=ok node_id=good-1 verified=false version=1 user_agent=good/1\.0 listen_port=7777 ' "$BATS_TEST_TMPDIR/L1.err"
}

@test "stdout and stderr one file (a terminal, the journal): each session told once, by its log line" {
	start_bg B sh -c 'exec st-listen --bind 127.0.0.1:0 2>&1'
	both=$BATS_TEST_TMPDIR/B.out
	wait_for_line "$both" '^listening 127\.0\.0\.1:' 10
	st-connect -q "$(sed -n 's/^listening //p' "$both")"
	wait_for_line "$both" 'event=session ' 5
	stop_bg B
	run grep -c ' from 127\.0\.0\.1:' "$both"
	[ "$output" -eq 0 ] || { cat "$both"; false; }
	[ "$(grep -c 'event=session .*status=ok' "$both")" -eq 1 ]
	# -q: only errors, so no log lines at all
	port=$(free_port)
	start_bg Q st-listen --bind "127.0.0.1:$port" -q -o json --metrics 0
	for i in $(seq 50); do st-connect -q "127.0.0.1:$port" 2>/dev/null && break; sleep 0.1; done
	wait_for_line "$BATS_TEST_TMPDIR/Q.out" '"status":"ok"' 5
	stop_bg Q
	[ ! -s "$BATS_TEST_TMPDIR/Q.err" ]
}
