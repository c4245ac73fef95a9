#!/usr/bin/env bats
# st-listen: records per session, limits, hostile clients, many idle connections.

load helpers

@test "each inbound session prints a record" {
	start_listener L1 -o json
	st-connect --ping "$L1_ADDR" >/dev/null
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" '"status"' 5
	run grep '"status"' "$BATS_TEST_TMPDIR/L1.out"
	# st-connect advertises no listen port: no endpoint for the books, only where it came from
	[[ "$output" == '{"endpoint":null,"peer":"127.0.0.1:'*'","status":"ok","node_id":"st-'*'"verified":false,"version":1,"user_agent":"st/'* ]]
	[[ "$output" == *'"listen_port":0,'* ]]
}

@test "an inbound peer that advertises a listen port: endpoint is its reachable one, peer where it came from (tsv with header)" {
	start_listener L1 -o tsv
	run python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$L1_ADDR" dialer-1 7777
	[[ "$output" == "ack st-"* ]]
	st-connect -q "$L1_ADDR"
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" $'\tdialer-1\t' 5
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" $'^-\t' 5
	run cat "$BATS_TEST_TMPDIR/L1.out"
	[ "${lines[0]}" = $'#endpoint\tpeer\tstatus\tnode_id\tverified\tversion\tuser_agent\tlisten_port\tduration_ms\tgetpeers\terror' ]
	[ "$(grep -c '^#' <<<"$output")" -eq 1 ]
	run col node_id endpoint status listen_port user_agent <"$BATS_TEST_TMPDIR/L1.out"
	assert_line $'dialer-1\t127.0.0.1:7777\tok\t7777\tst-test/1'
	assert_line --regexp $'^st-[0-9a-f]+\t-\tok\t0\tst/'
	run col node_id peer <"$BATS_TEST_TMPDIR/L1.out"
	assert_line --regexp $'^dialer-1\t127\\.0\\.0\\.1:[0-9]+$'
	[ "$(grep -c $'^dialer-1\t127.0.0.1:7777$' <<<"$output")" -eq 0 ]
}

@test "inbound records feed st-peers ingest and st-addrbook record by field name, in tsv and json" {
	for fmt in tsv json; do
		start_listener "L_$fmt" -o "$fmt" --data-dir "$BATS_TEST_TMPDIR/node-$fmt"
		v=L_${fmt}_ADDR
		addr=${!v}
		python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$addr" dialer-1 7777 >/dev/null
		st-connect -q "$addr"
		wait_for_line "$BATS_TEST_TMPDIR/L_$fmt.out" 'dialer-1' 5
		wait_for_line "$BATS_TEST_TMPDIR/L_$fmt.out" '[^a-z]st-[0-9a-f]{8,}' 5
		stop_bg "L_$fmt"
		export ST_DATA_DIR=$BATS_TEST_TMPDIR/book-$fmt
		# the st-connect session advertised no endpoint: skipped, not an error
		run st-peers ingest -o tsv <"$BATS_TEST_TMPDIR/L_$fmt.out"
		[ "$status" -eq 0 ]
		[ "$(col node_id endpoint change <<<"$output")" = $'dialer-1\t127.0.0.1:7777\tadded' ]
		run st-peers show dialer-1 -o tsv
		[ "$(col endpoint version user_agent successes <<<"$output")" = $'127.0.0.1:7777\t1\tst-test/1\t1' ]
		st-addrbook add -q --allow-private 127.0.0.1:7777
		run st-addrbook record <"$BATS_TEST_TMPDIR/L_$fmt.out"
		[ "$status" -eq 0 ]
		run st-addrbook list -o tsv
		[ "$(col endpoint successes attempts <<<"$output")" = $'127.0.0.1:7777\t1\t1' ]
	done
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
	wait_for_line "$BATS_TEST_TMPDIR/Q.out" '"status":"ok"' 5
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
	[ "$(col status <<<"$output")" = ok ]
	wait $idle || true
	# text: no endpoint, where it came from, timeout, no node id
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" '^- +from 127\.0\.0\.1:[0-9]+ +timeout +- ' 5
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
	[ "$(col status <<<"$output")" = ok ]
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
	[ "$(col status <<<"$output")" = ok ]
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

@test "a client that sends Pings and never reads the Pongs cannot grow the listener" {
	start_listener L1 --data-dir "$BATS_TEST_TMPDIR/l1"
	pid=$(cat "$BATS_TEST_TMPDIR/L1.pid")
	run python3 "$ST_TOP/tests/bats/tools/peer.py" pingflood "$L1_ADDR" 4
	[ "$status" -eq 0 ]
	sent=$(sed -n 's/^sent \([0-9]*\) bytes$/\1/p' <<<"$output")
	peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
	echo "# sent $sent bytes of Pings; st-listen's peak RSS ${peak} kB" >&3
	# the listener stopped reading once its answers to this peer filled their
	# budget (what the client got out beyond that sits in the kernel's buffers)
	[ "$peak" -lt $((48 * 1024)) ]
	# and it still serves everyone else
	run st-connect -o tsv "$L1_ADDR"
	[ "$(col status <<<"$output")" = ok ]
}

@test "before its handshake a peer can make the listener hold one small frame at most" {
	start_listener L1 --data-dir "$BATS_TEST_TMPDIR/l1"
	run python3 - "$L1_ADDR" <<'PY'
import socket, struct, sys, time
host, port = sys.argv[1].rsplit(":", 1)
c = socket.create_connection((host, int(port)), timeout=5)
# a Handshake frame that claims 16 MiB: refused at its header, not buffered
c.sendall(struct.pack("<IB", 16 * 1024 * 1024, 1) + b"x" * 1000)
try:
    print("closed" if c.recv(100) == b"" else "answered")
except ConnectionResetError:
    print("closed")
PY
	[ "$output" = closed ]
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" 'protocol-error' 5
	grep -q 'frame too large' "$BATS_TEST_TMPDIR/L1.out"
}

@test "the GetPeers limit holds per address whatever the table's hash, and per /24" {
	st-addrbook add -q --allow-private 127.0.0.9:7777 127.0.0.10:7777
	start_listener L1 --data-dir "$ST_DATA_DIR" --max-per-ip 100
	local srcs=() i
	# two addresses that shared a slot of the old fixed-key table: alternating got 19 of 20
	for i in $(seq 10); do srcs+=(127.2.0.1 127.3.1.229); done
	run python3 "$ST_TOP/tests/bats/tools/peer.py" getpeers "$L1_ADDR" "${srcs[@]}"
	[ "${#lines[@]}" -eq 20 ]
	[ "$(grep -c ' 2$' <<<"$output")" -eq 2 ]  # the first of each: both book entries
	[ "$(grep -c ' 0$' <<<"$output")" -eq 18 ] # then empty answers
	# twenty addresses of one /24 get eight answers between them
	srcs=()
	for i in $(seq 20); do srcs+=("127.5.5.$i"); done
	run python3 "$ST_TOP/tests/bats/tools/peer.py" getpeers "$L1_ADDR" "${srcs[@]}"
	[ "$(grep -c ' 2$' <<<"$output")" -eq 8 ]
	[ "$(grep -c ' 0$' <<<"$output")" -eq 12 ]
}

# handshake_ms ADDR: one honest st-connect --ping against ADDR; prints its wall time in ms
handshake_ms() {
	local t0 t1
	t0=$(date +%s%N)
	st-connect -q --ping --timeout 10s "$1" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

@test "GetPeers is answered from memory while a writer holds the address book" {
	st-addrbook add -q --allow-private 127.0.0.9:7777 127.0.0.10:7777
	start_listener L1 --data-dir "$ST_DATA_DIR"
	# something else holds the book's lock, as a writer would (bounded: 10 s)
	start_bg HOLD flock -o "$ST_DATA_DIR/addrbook.lock" sleep 10 # -o: only flock holds it
	local i
	for i in $(seq 50); do flock -n "$ST_DATA_DIR/addrbook.lock" true || break; sleep 0.1; done
	run st-addrbook --wait 0s list
	[ "$status" -eq 75 ] # the lock is held
	run st-connect --getpeers 10 -o tsv "$L1_ADDR"
	[ "$status" -eq 0 ]
	[ "$(col endpoint <<<"$output" | sort | tr '\n' ' ')" = "127.0.0.10:7777 127.0.0.9:7777 " ]
	# reported, not asserted: an honest handshake while the lock is held
	echo "# honest handshake + ping with the book locked: $(handshake_ms "$L1_ADDR") ms" >&3
}

# hold N: opens N connections to L1 from 127.0.0.1 and keeps them (10 s at most); prints
# "open" once all are up, then "error TEXT" for each Error the listener sends them
hold() {
	python3 -c "
import select, socket, struct, sys, time
port = int(sys.argv[1]); n = int(sys.argv[2])
c = [socket.create_connection(('127.0.0.1', port)) for _ in range(n)]
print('open', flush=True)
end = time.time() + 10
while c and time.time() < end:
    r, _, _ = select.select(c, [], [], 0.2)
    for s in r:
        b = s.recv(65536)
        if len(b) >= 5 and b[4] == 0xff:
            print('error ' + b[5:5 + struct.unpack('<I', b[:4])[0] - 1].decode(), flush=True)
        c.remove(s); s.close()
" "${L1_ADDR##*:}" "$1"
}

@test "a full listener evicts from the most crowded network for a newcomer, telling it why" {
	start_listener L1 --max-conns 40 --max-per-ip 100 --handshake-timeout 30s
	hold 40 >held.out &
	holder=$!
	wait_for_line held.out '^open$' 10
	# full: the honest newcomer is served, a connection of the crowded group makes room
	run st-connect -o tsv --ping "$L1_ADDR"
	[ "$status" -eq 0 ]
	[ "$(col status <<<"$output")" = ok ]
	wait_for_line held.out '^error evicted: the listener is full' 5
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" 'refused-limit.*evicted: the listener is full' 5
	kill $holder
	wait $holder || true
}

@test "a full listener whose every connection is protected refuses the newcomer with an Error" {
	start_listener L1 --max-conns 4 --max-per-ip 100 --handshake-timeout 30s
	hold 4 >held.out &
	holder=$!
	wait_for_line held.out '^open$' 10
	hold 1 >new.out
	grep -q '^error too many connections$' new.out
	kill $holder
	wait $holder || true
}

# vmhwm NAME: the peak resident memory (VmHWM) of background process NAME, in kB
vmhwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$(cat "$BATS_TEST_TMPDIR/$1.pid")/status"
}

@test "the whole listener's memory budget: large frames stop being read, an honest newcomer gets in" {
	ST_LISTEN_MAX_MEMORY=1MiB start_listener L1 --max-per-ip 100
	local before
	before=$(vmhwm L1)
	# 8 peers handshake, then each starts an 8 MiB frame and pushes as fast as it can for
	# 4 s: 64 MiB held unless the budget stops reading from them
	python3 -c "
import select, socket, struct, sys, time
sys.path.insert(0, sys.argv[2])
import peer
port = int(sys.argv[1])
c = []
for i in range(8):
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(peer.frame(1, peer.handshake(node='big-%d' % i)))
    peer.read_frame(s)
    s.sendall(struct.pack('<IB', 8 << 20, 0x20))
    s.setblocking(False)
    c.append(s)
chunk, sent, end = b'x' * 65536, 0, time.time() + 4
while time.time() < end:
    _, w, _ = select.select([], c, [], 0.1)
    for s in w:
        try:
            sent += s.send(chunk)
        except OSError:
            pass
print('pushed %d bytes' % sent, flush=True)
time.sleep(30)
" "${L1_ADDR##*:}" "$ST_TOP/tests/bats/tools" >push.out &
	pusher=$!
	wait_for_line push.out '^pushed ' 20
	local peak
	peak=$(vmhwm L1)
	echo "# st-listen VmHWM: ${before} kB at start, ${peak} kB with 8 peers pushing 8 MiB frames ($(cat push.out))" >&3
	[ "$peak" -lt $((before + 24 * 1024)) ] # the budget (1 MiB) and a read per peer, not 64 MiB
	# over its budget the listener makes room for an honest newcomer: it closes the
	# connections holding the most, telling them why, and the newcomer's handshake succeeds
	run st-connect -o tsv "$L1_ADDR"
	[ "$status" -eq 0 ]
	[ "$(col status <<<"$output")" = ok ]
	grep -q "evicted: the listener's memory budget is spent and this connection holds the most" "$BATS_TEST_TMPDIR/L1.out"
	! grep -q "busy: the listener's memory budget" "$BATS_TEST_TMPDIR/L1.out"
	kill $pusher
	wait $pusher || true
}

@test "--getpeers-interval: a requester gets its next answer once the interval has passed; below 1s is refused" {
	st-addrbook add -q --allow-private 127.0.0.9:7777 127.0.0.10:7777
	# the default, the reference's 5 minutes: asking again and again from one address
	# brings empty answers only
	start_listener L1 --data-dir "$ST_DATA_DIR"
	local i n got=() seen_empty=0 answered_after=0
	for i in $(seq 5); do
		n=$(st-connect --bind 127.0.0.7 --getpeers 10 "$L1_ADDR" | grep -c .) || true
		got+=("$n")
	done
	[ "${got[*]}" = "2 0 0 0 0" ]
	# at 1s the same address is answered again within a bounded number of asks
	# (each empty answer means its second has not passed; one comes by the next)
	start_listener L2 --data-dir "$ST_DATA_DIR" --getpeers-interval 1s
	for i in $(seq 400); do
		n=$(st-connect --bind 127.0.0.7 --getpeers 10 "$L2_ADDR" | grep -c .) || true
		if [ "$n" -eq 0 ]; then
			seen_empty=1
		elif [ "$seen_empty" -eq 1 ]; then
			answered_after=1
			break
		fi
	done
	[ "$seen_empty" -eq 1 ]
	[ "$answered_after" -eq 1 ]
	run st-listen --getpeers-interval 500ms
	[ "$status" -eq 2 ]
	[[ "$output" == *getpeers* ]]
	run st-listen --print-config --getpeers-interval 90s
	[ "$status" -eq 0 ]
	[[ "$output" == *"getpeers_interval: 90s"* ]]
}
