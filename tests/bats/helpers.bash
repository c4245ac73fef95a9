# helpers.bash - what every bats file loads: bats-support/assert, PATH, temp dirs, servers.
bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load.bash
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load.bash

: "${ST_TOP:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
: "${ST_BUILD:=$ST_TOP/build}"
export ST_TOP ST_BUILD
export PATH="$ST_BUILD:$PATH"
export LC_ALL=C

# Nothing from the operator's own config or data: every test gets its own.
export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/xdg-config"
export XDG_DATA_HOME="$BATS_TEST_TMPDIR/xdg-data"
export ST_DATA_DIR="$BATS_TEST_TMPDIR/data"
unset ST_CONFIG ST_FAKE_NOW

# programs: every st program the build has, one a line (one per cmd/st-*.c)
programs() {
	local p
	for p in "$ST_TOP"/cmd/st-*.c; do
		p=$(basename "$p" .c)
		[ -x "$ST_BUILD/$p" ] && echo "$p"
	done
}

# st_tmpdir: prints a new empty directory under the test's temp dir.
st_tmpdir() {
	mktemp -d "$BATS_TEST_TMPDIR/tmp.XXXXXX"
}

# free_port [ADDR]: prints a TCP port that was free on ADDR (default 127.0.0.1) a moment ago.
free_port() {
	python3 - "${1:-127.0.0.1}" <<'PY'
import socket, sys
a = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET)
s.bind((a, 0))
print(s.getsockname()[1])
s.close()
PY
}

# start_bg NAME CMD...: runs CMD in the background; its stdout goes to
# $BATS_TEST_TMPDIR/NAME.out, stderr to NAME.err, its pid to NAME.pid.
start_bg() {
	local name=$1
	shift
	"$@" >"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" </dev/null &
	echo $! >"$BATS_TEST_TMPDIR/$name.pid"
	echo "$name" >>"$BATS_TEST_TMPDIR/bg-names"
}

# stop_bg NAME: ends that background process (TERM, then KILL after 5 s) by its pid.
stop_bg() {
	local f="$BATS_TEST_TMPDIR/$1.pid" pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	rm -f "$f"
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# stop_all_bg: stops every process start_bg started in this test.
stop_all_bg() {
	local n
	[ -f "$BATS_TEST_TMPDIR/bg-names" ] || return 0
	while read -r n; do stop_bg "$n"; done <"$BATS_TEST_TMPDIR/bg-names"
	rm -f "$BATS_TEST_TMPDIR/bg-names"
}

# wait_for_line FILE REGEX [SECONDS]: waits (default 10 s) until FILE has a line matching REGEX.
wait_for_line() {
	local file=$1 re=$2 secs=${3:-10} i
	for i in $(seq $((secs * 20))); do
		grep -qE -- "$re" "$file" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "timed out waiting for /$re/ in $file" >&2
	cat "$file" >&2 2>/dev/null
	return 1
}

# start_listener NAME [ST-LISTEN ARGS...]: starts st-listen on a free port of
# 127.0.0.1 (unless --bind is given) and sets NAME_ADDR to the address it bound.
start_listener() {
	local name=$1 addr
	shift
	local args=("$@")
	case " ${args[*]} " in *" --bind "*) ;; *) args=(--bind 127.0.0.1:0 "${args[@]}") ;; esac
	start_bg "$name" st-listen "${args[@]}"
	# text mode says where it listens on stdout; tsv and json on stderr
	local where=out
	case " ${args[*]} " in *" -o json "* | *" -o tsv "*) where=err ;; esac
	wait_for_line "$BATS_TEST_TMPDIR/$name.$where" '^listening ' 10 || return 1
	addr=$(sed -n 's/^listening \([^ ]*\).*/\1/p' "$BATS_TEST_TMPDIR/$name.$where" | head -1)
	printf -v "${name}_ADDR" '%s' "$addr"
	export "${name}_ADDR"
}

# reload_bans NAME: a running st-listen rereads its bans in a worker, every 250 ms; a
# test that bans and dials at once sends SIGHUP and waits for the reload's log line
# (10 s at most), so that the ban holds from the next connection on.
reload_bans() {
	local log="$BATS_TEST_TMPDIR/$1.err" n i
	n=$(grep -c 'event=reload' "$log" 2>/dev/null) || true
	kill -HUP "$(cat "$BATS_TEST_TMPDIR/$1.pid")" || return 1
	for i in $(seq 200); do
		[ "$(grep -c 'event=reload' "$log" 2>/dev/null)" -gt "$n" ] && return 0
		sleep 0.05
	done
	echo "reload_bans: no reload of $1 within 10 s" >&2
	return 1
}

# Each test works in its own temp dir, so scratch files never land in the tree.
setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

teardown() {
	stop_all_bg
}

# start_httpd NAME DOCROOT [--tls CERT KEY] [--bind ADDR]: serves DOCROOT with
# tools/httpd.py on a free port of 127.0.0.1 and sets NAME_URL to its base URL
# (https:// with --tls). Its request log ("METHOD PATH STATUS" lines) is NAME.err.
start_httpd() {
	local name=$1 docroot=$2 scheme=http
	shift 2
	case " $* " in *" --tls "*) scheme=https ;; esac
	start_bg "$name" python3 "$ST_TOP/tests/bats/tools/httpd.py" "$@" "$docroot"
	wait_for_line "$BATS_TEST_TMPDIR/$name.out" '^listening ' 10 ||
		{ cat "$BATS_TEST_TMPDIR/$name.err" >&2; return 1; }
	printf -v "${name}_URL" '%s://%s' "$scheme" \
		"$(sed -n 's/^listening //p' "$BATS_TEST_TMPDIR/$name.out" | head -1)"
	export "${name}_URL"
}

# start_dns NAME ZONEFILE [--bind ADDR]: serves ZONEFILE with tools/dns.py (UDP, and TCP
# on the same port) and sets NAME_ADDR to 127.0.0.1:PORT. Its query log ("QNAME QTYPE
# RCODE" lines, names in lower case) is NAME.err.
start_dns() {
	local name=$1 zone=$2
	shift 2
	start_bg "$name" python3 "$ST_TOP/tests/bats/tools/dns.py" "$@" "$zone"
	wait_for_line "$BATS_TEST_TMPDIR/$name.out" '^listening ' 10 ||
		{ cat "$BATS_TEST_TMPDIR/$name.err" >&2; return 1; }
	printf -v "${name}_ADDR" '%s' "$(sed -n 's/^listening //p' "$BATS_TEST_TMPDIR/$name.out" | head -1)"
	export "${name}_ADDR"
}

# count_log_lines NAME ERE: prints how many lines of NAME's stderr log match ERE,
# e.g. count_log_lines WEB '^GET /peers.txt 304$'.
count_log_lines() {
	grep -cE -- "$2" "$BATS_TEST_TMPDIR/$1.err" || true
}

# make_test_ca DIR: a throwaway CA (DIR/ca.crt, ca.key) and a server certificate it
# signed (DIR/server.crt, server.key) for IP:127.0.0.1 and DNS:localhost, valid 3 days.
# Extensions are spelt out so strict verifiers (X509_V_FLAG_X509_STRICT) accept them.
make_test_ca() {
	local d=$1 out
	mkdir -p "$d" || return 1
	out=$({
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$d/ca.key" -out "$d/ca.crt" -days 3 -subj "/CN=st test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" &&
			printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
				"basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
				"extendedKeyUsage=serverAuth" "subjectKeyIdentifier=hash" \
				"authorityKeyIdentifier=keyid" >"$d/server.ext" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
				-set_serial "0x$(openssl rand -hex 8)" -days 3 -extfile "$d/server.ext" \
				-out "$d/server.crt"
	} 2>&1) || { echo "make_test_ca: $out" >&2; return 1; }
	rm -f "$d/server.csr" "$d/server.ext"
}

# records: stdin's record lines, without the "#" tsv header and comment lines,
# e.g. [ "$(records <<<"$output" | wc -l)" -eq 2 ].
records() {
	grep -v '^#' || true
}

# --- tsv columns by name (the "#name<TAB>name..." header every tsv stream opens with) ---
# col NAME...: reads a tsv stream on stdin and prints, for each record, its columns
# NAME... (tab-separated), found by the names of the header in force ("#" then
# lower-case names; any later header replaces it). Other "#" lines are skipped.
# Fails, saying why, on a record before any header or a NAME the header lacks.
col() {
	awk -F'\t' -v OFS='\t' -v names="$*" '
		BEGIN { k = split(names, want, " ") }
		/^#[a-z][a-z0-9_\t]*$/ {
			delete idx
			n = split(substr($0, 2), h, "\t")
			for (i = 1; i <= n; i++) idx[h[i]] = i
			for (j = 1; j <= k; j++)
				if (!(want[j] in idx)) { print "col: no column \"" want[j] "\" in " $0 > "/dev/stderr"; bad = 1; exit }
			hdr = 1
			next
		}
		/^[ \t]*#/ || /^[ \t]*$/ { next }
		!hdr { print "col: a record before any tsv header: " $0 > "/dev/stderr"; bad = 1; exit }
		{
			s = $(idx[want[1]])
			for (j = 2; j <= k; j++) s = s OFS $(idx[want[j]])
			print s
		}
		END { exit bad }'
}

# break_peer_line FILE ID: the byte after ID on its line in a peers table becomes '?', in
# place, as a disk's damage would: the file's length and modification time unchanged (an
# edit that changes the time makes the indexes stale, and a reader reads the table
# whole). A line a whole read refuses ("expected 11 fields").
break_peer_line() {
	python3 - "$1" "$2" <<'PY'
import os, sys
p, peer = sys.argv[1], sys.argv[2].encode()
st = os.stat(p)
b = open(p, "rb").read()
i = b.index(b"\n" + peer + b"\t") + 1 + len(peer)
open(p, "r+b").write(b[:i] + b"?" + b[i + 1:])
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
}
