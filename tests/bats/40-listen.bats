#!/usr/bin/env bats
# st-listen: records per session, limits, hostile clients, many idle connections.

load helpers

@test "each inbound session prints a record" {
	start_listener L1 -o json
	st-connect --ping "$L1_ADDR" >/dev/null
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" '"outcome"' 5
	run grep '"outcome"' "$BATS_TEST_TMPDIR/L1.out"
	[[ "$output" == '{"endpoint":"127.0.0.1:'*'"outcome":"ok","node_id":"st-'*'"version":1,"user_agent":"st/'* ]]
}

@test "listening address goes to stderr in json mode, stdout in text" {
	start_bg J st-listen --bind 127.0.0.1:0 -o json
	wait_for_line "$BATS_TEST_TMPDIR/J.err" '^listening 127.0.0.1:[0-9]+$' 10
	[ ! -s "$BATS_TEST_TMPDIR/J.out" ]
}

@test "-q in json mode: no listening line on stderr, the session records still on stdout" {
	port=$(free_port)
	start_bg Q st-listen --bind "127.0.0.1:$port" -q -o json
	for i in $(seq 50); do st-connect -q "127.0.0.1:$port" >/dev/null 2>&1 && break; sleep 0.1; done
	wait_for_line "$BATS_TEST_TMPDIR/Q.out" '"outcome":"ok"' 5
	stop_bg Q
	[ ! -s "$BATS_TEST_TMPDIR/Q.err" ]
}

@test "a client that never handshakes is dropped at the deadline; others are served meanwhile" {
	start_listener L1 --handshake-timeout 1s
	port=${L1_ADDR##*:}
	python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $port)); time.sleep(3)" &
	idle=$!
	sleep 0.3
	run st-connect -o tsv "$L1_ADDR"
	[ "$(cut -f2 <<<"$output")" = ok ]
	wait $idle || true
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" 'timeout +- +-' 5
}

@test "garbage and oversized frames are dropped as protocol errors" {
	start_listener L1
	port=${L1_ADDR##*:}
	python3 -c "
import socket, struct
s = socket.create_connection(('127.0.0.1', $port)); s.sendall(b'GET / HTTP/1.1\r\n\r\n'); s.recv(10)
s = socket.create_connection(('127.0.0.1', $port)); s.sendall(struct.pack('<IB', 0x7fffffff, 1)); s.recv(10)
"
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" 'protocol-error.*frame too large' 5
	run st-connect -o tsv "$L1_ADDR"
	[ "$(cut -f2 <<<"$output")" = ok ]
}

@test "per-address and total connection caps refuse the excess" {
	start_listener L1 --max-per-ip 2
	port=${L1_ADDR##*:}
	python3 -c "
import socket, time
c = [socket.create_connection(('127.0.0.1', $port)) for _ in range(3)]; time.sleep(1)"
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" 'refused-limit.*too many connections from this address' 5
}

@test "1,000 idle connections do not stop a new client from handshaking" {
	start_listener L1 --max-per-ip 2000 --max-conns 5000
	port=${L1_ADDR##*:}
	python3 -c "
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
c = [socket.create_connection(('127.0.0.1', $port)) for _ in range(1000)]
print('open', flush=True); time.sleep(8)" >"$BATS_TEST_TMPDIR/idle.out" &
	holder=$!
	wait_for_line "$BATS_TEST_TMPDIR/idle.out" '^open$' 30
	run st-connect -o tsv --ping "$L1_ADDR"
	[ "$status" -eq 0 ]
	[ "$(cut -f2 <<<"$output")" = ok ]
	kill $holder
	wait $holder || true
}

@test "SIGTERM stops the listener cleanly" {
	start_listener L1
	pid=$(cat "$BATS_TEST_TMPDIR/L1.pid")
	kill -TERM "$pid"
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null
	wait "$pid"
}

@test "usage errors" {
	run st-listen --bind nonsense
	[ "$status" -eq 2 ] || [ "$status" -eq 69 ]
	run st-listen --max-conns 0
	[ "$status" -eq 2 ]
	run st-listen extra
	[ "$status" -eq 2 ]
}
