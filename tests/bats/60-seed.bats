#!/usr/bin/env bats
# st-seed against real HTTP(S) and DNS servers on loopback (tools/httpd.py, tools/dns.py).
# The endpoints in the lists are data only: nothing is ever dialed.

load helpers

# The tsv headers of gossip records (st_schema_gossip) and of refresh outcomes (st_schema_seed).
GOSSIP_HEADER=$'#endpoint\tsource\tnode_id'
SEED_HEADER=$'#seed\tstatus\tendpoints\tadded\trejected\terror'

# a docroot with a list in each format
web_lists() {
	mkdir -p www
	printf '%s\n' '# seed list' 1.2.3.4:7777 'n1@[2a00:1450::1]:7777' '' 5.6.7.8 >www/peers.txt
	printf '%s\n' '[{"address":"9.9.9.9","port":7777,"node_id":"j1"},"8.8.4.4:7777",' \
		'{"host":"2a00:1450::2","port":"7777"}]' >www/peers.json
	printf '%s\n' 'abcdefghijklmnop.onion:8333' 11.1.1.1:8333 '[2a00:1450::3]:8333' \
		'abc.b32.i2p:0' >www/nodes_main.txt
	printf '%s\n' 1.2.3.4:7777 1.2.3.4.5:7777 6.6.6.6:99999 7.7.7.7:7777 >www/mixed.txt
}

@test "fetch prints each endpoint of a text list as a record with its source" {
	web_lists
	start_httpd WEB www
	run st-seed fetch -o tsv "$WEB_URL/peers.txt"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	[ "${lines[0]}" = "$GOSSIP_HEADER" ]
	[ "${lines[1]}" = "1.2.3.4:7777	seed:$WEB_URL/peers.txt	-" ]
	[ "${lines[2]}" = "[2a00:1450::1]:7777	seed:$WEB_URL/peers.txt	n1" ]
	[ "${lines[3]}" = "5.6.7.8:7777	seed:$WEB_URL/peers.txt	-" ]
}

@test "json lists are detected and read, objects and strings alike" {
	web_lists
	start_httpd WEB www
	run st-seed fetch -o json "$WEB_URL/peers.json"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]  # json: no header
	[ "${lines[0]}" = '{"endpoint":"9.9.9.9:7777","source":"seed:'"$WEB_URL"'/peers.json","node_id":"j1"}' ]
	[[ "${lines[2]}" == '{"endpoint":"[2a00:1450::2]:7777",'* ]]
	# the same body served as text/plain is still JSON by its first character
	cp www/peers.json www/plain.txt
	run st-seed fetch -o tsv "$WEB_URL/plain.txt"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	# and a forced format wins
	run st-seed fetch --format text "$WEB_URL/peers.json"
	[ "$status" -eq 0 ]
	assert_line --partial "peers.json:1: "
}

@test "a Bitcoin seed file: onion and i2p lines are counted and skipped" {
	web_lists
	start_httpd WEB www
	run st-seed fetch -v -o tsv "$WEB_URL/nodes_main.txt"
	[ "$status" -eq 0 ]
	assert_line "11.1.1.1:8333	seed:$WEB_URL/nodes_main.txt	-"
	assert_line "[2a00:1450::3]:8333	seed:$WEB_URL/nodes_main.txt	-"
	assert_line "st-seed: $WEB_URL/nodes_main.txt: 2 endpoints (bitcoin; 0 bad, 0 duplicate, 2 onion/i2p skipped)"
}

@test "a list with bad lines still yields its good lines, the bad ones named by line" {
	web_lists
	start_httpd WEB www
	run st-seed fetch -o tsv "$WEB_URL/mixed.txt"
	[ "$status" -eq 0 ]
	assert_line "st-seed: $WEB_URL/mixed.txt:2: bad address '1.2.3.4.5'"
	assert_line "st-seed: $WEB_URL/mixed.txt:3: bad port '99999': too large (1..65535)"
	[ "$(grep -c seed: <<<"$output")" -eq 4 ]
	run st-seed fetch -q -o tsv "$WEB_URL/mixed.txt"
	[ "$(records <<<"$output" | wc -l)" -eq 2 ]
}

@test "host names are resolved only with --resolve" {
	mkdir www
	printf '%s\n' localhost:7001 >www/names.txt
	start_httpd WEB www
	run st-seed fetch -o tsv "$WEB_URL/names.txt"
	[ "$status" -eq 0 ]
	assert_line "st-seed: $WEB_URL/names.txt:1: host name 'localhost' (resolved only with --resolve)"
	run st-seed fetch -q -o tsv --resolve "$WEB_URL/names.txt"
	[ "$status" -eq 0 ]
	assert_line "127.0.0.1:7001	seed:$WEB_URL/names.txt	-"
}

@test "HTTP errors are reported with their status; 69 when all failed, 75 when some" {
	web_lists
	start_httpd WEB www
	run st-seed fetch "$WEB_URL/missing.txt"
	[ "$status" -eq 69 ]
	assert_line "st-seed: $WEB_URL/missing.txt: HTTP 404"
	run st-seed fetch -o tsv "$WEB_URL/missing.txt" "$WEB_URL/peers.txt"
	[ "$status" -eq 75 ]
	assert_line "1.2.3.4:7777	seed:$WEB_URL/peers.txt	-"
	# a 4xx is not retried
	[ "$(count_log_lines WEB '^GET /missing.txt 404')" -eq 2 ]
}

@test "a 500 is retried with backoff and the second answer counts" {
	web_lists
	start_httpd WEB www
	run st-seed fetch -o tsv "$WEB_URL/fail-once/peers.txt"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	[ "$(count_log_lines WEB '^GET /fail-once/peers.txt 500')" -eq 1 ]
	[ "$(count_log_lines WEB '^GET /fail-once/peers.txt 200')" -eq 1 ]
	# retries run out: 1 + 2 attempts, then the status
	run st-seed fetch --retries 2 "$WEB_URL/fail-always/peers.txt"
	[ "$status" -eq 69 ]
	assert_line "st-seed: $WEB_URL/fail-always/peers.txt: HTTP 503"
	[ "$(count_log_lines WEB '^GET /fail-always/peers.txt 503')" -eq 3 ]
}

@test "a body over --max-size is refused while it downloads" {
	start_httpd WEB .
	run st-seed fetch --max-size 1000 "$WEB_URL/big/5000"
	[ "$status" -eq 69 ]
	assert_line "st-seed: $WEB_URL/big/5000: body over --max-size (1000 bytes)"
	# without a Content-Length the ceiling holds during the transfer
	run st-seed fetch --max-size 1MiB "$WEB_URL/big-chunked/4000000"
	[ "$status" -eq 69 ]
	assert_line "st-seed: $WEB_URL/big-chunked/4000000: body over --max-size (1 MiB)"
	run st-seed fetch -q --max-size 1MiB "$WEB_URL/big/1000"
	[ "$status" -eq 0 ]
}

@test "a slow server is given up at the timeout" {
	web_lists
	start_httpd WEB www
	SECONDS=0
	run st-seed fetch --timeout 1s --retries 0 "$WEB_URL/slow/20/peers.txt"
	[ "$status" -eq 69 ]
	assert_line "st-seed: $WEB_URL/slow/20/peers.txt: timed out after 1s"
	[ "$SECONDS" -lt 15 ] # a hang, not a timing: the server dribbles for 20 s
}

@test "redirects are followed, a redirect loop is cut at --max-redirects" {
	web_lists
	start_httpd WEB www
	run st-seed fetch -q -o tsv "$WEB_URL/redirect/peers.txt"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	run st-seed fetch --max-redirects 3 "$WEB_URL/redirect-loop/0"
	[ "$status" -eq 69 ]
	assert_line "st-seed: $WEB_URL/redirect-loop/0: too many redirects (3)"
	[ "$(count_log_lines WEB '^GET /redirect-loop/')" -eq 4 ]
}

@test "HTTPS verifies certificates against the system or --cacert; --insecure only by name" {
	web_lists
	make_test_ca ca
	start_httpd TLS www --tls ca/server.crt ca/server.key
	[[ "$TLS_URL" == https://* ]]
	run st-seed fetch --retries 0 "$TLS_URL/peers.txt"
	[ "$status" -eq 69 ]
	assert_line --partial "st-seed: $TLS_URL/peers.txt: "
	run st-seed fetch -q -o tsv --cacert ca/ca.crt "$TLS_URL/peers.txt"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	ST_SEED_CACERT=ca/ca.crt run st-seed fetch -q -o tsv "$TLS_URL/peers.txt"
	[ "$status" -eq 0 ]
	run st-seed fetch -q -o tsv --insecure "$TLS_URL/peers.txt"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
}

@test "signed lists: a good signature passes, a changed list or a missing .sig fails" {
	web_lists
	openssl genpkey -algorithm ed25519 -out seed.key 2>/dev/null
	chmod 600 seed.key
	run st-seed sign --key seed.key www/peers.txt
	[ "$status" -eq 0 ]
	[ -s www/peers.txt.sig ]
	pub=$(st-seed pubkey --key seed.key)
	[ "${#pub}" -eq 44 ]
	start_httpd WEB www
	run st-seed fetch -q -o tsv --public-key "$pub" "$WEB_URL/peers.txt"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	[ "$(count_log_lines WEB '^GET /peers.txt.sig 200')" -eq 1 ]
	run st-seed verify --public-key "$pub" www/peers.txt
	[ "$status" -eq 0 ]
	# the web host swaps in its own peers
	echo 66.66.66.66:7777 >>www/peers.txt
	run st-seed fetch -o tsv --public-key "$pub" "$WEB_URL/peers.txt"
	[ "$status" -eq 69 ]
	assert_line "st-seed: $WEB_URL/peers.txt: bad signature"
	[ "$(grep -c seed: <<<"$output")" -eq 1 ]
	run st-seed verify --public-key "$pub" www/peers.txt
	[ "$status" -eq 65 ]
	run st-seed fetch --public-key "$pub" "$WEB_URL/peers.json"
	[ "$status" -eq 69 ]
	assert_line "st-seed: $WEB_URL/peers.json: signature: HTTP 404"
}

@test "sign refuses a private key others can read" {
	openssl genpkey -algorithm ed25519 -out open.key 2>/dev/null
	chmod 644 open.key
	echo 1.2.3.4:7777 >list.txt
	run st-seed sign --key open.key list.txt
	[ "$status" -eq 2 ]
	assert_line "st-seed: key 'open.key' is readable by group or others (chmod 600 it)"
	[ ! -e list.txt.sig ]
}

@test "fetch checks a local list before it is published, from a file or stdin" {
	printf '%s\n' 1.2.3.4:7777 1.2.3.4:x >list.txt
	run st-seed fetch -o tsv list.txt
	[ "$status" -eq 0 ]
	assert_line "1.2.3.4:7777	seed:list.txt	-"
	assert_line "st-seed: list.txt:2: bad port 'x': not a number"
	run st-seed fetch -q -o tsv - <list.txt
	[ "$output" = "$GOSSIP_HEADER"$'\n'"1.2.3.4:7777	seed:-	-" ]
	run st-seed fetch no-such-file.txt
	[ "$status" -eq 69 ]
}

zone() {
	cat >zone.txt <<-'EOF'
	seed.test A 11.2.3.4
	seed.test A 11.2.3.5
	seed.test AAAA 2a00:1450::10
	v4only.test A 11.9.9.9
	slow.test SLOW
	EOF
}

@test "dns resolves A and AAAA of every name through --resolver" {
	zone
	start_dns DNS zone.txt
	run st-seed dns -o tsv --resolver "$DNS_ADDR" --port 8000 seed.test v4only.test
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$GOSSIP_HEADER" ]
	[ "$(records <<<"$output" | wc -l)" -eq 4 ]
	assert_line "11.2.3.4:8000	dns:seed.test	-"
	assert_line "11.2.3.5:8000	dns:seed.test	-"
	assert_line "[2a00:1450::10]:8000	dns:seed.test	-"
	assert_line "11.9.9.9:8000	dns:v4only.test	-"
	ST_SEED_DNS_RESOLVER=$DNS_ADDR run st-seed dns -o json seed.test
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == '{"endpoint":"11.2.3.4:7777","source":"dns:seed.test","node_id":null}' ]]
}

@test "dns: an unknown name and a silent server are failures of that name" {
	zone
	start_dns DNS zone.txt
	run st-seed dns -o tsv --resolver "$DNS_ADDR" nosuch.test seed.test
	[ "$status" -eq 75 ]
	assert_line "st-seed: nosuch.test: no such name"
	[ "$(grep -c 'dns:seed.test' <<<"$output")" -eq 3 ]
	run st-seed dns --resolver "$DNS_ADDR" --timeout 1s slow.test
	[ "$status" -eq 69 ]
	assert_line "st-seed: slow.test: timed out"
	run st-seed dns --resolver nonsense seed.test
	[ "$status" -eq 2 ]
}

@test "dns: an answer too big for UDP is named as such; evdns's own chatter stays quiet" {
	for i in $(seq 40); do echo "big.test A 11.0.0.$i"; done >zone.txt
	echo "small.test A 11.1.1.1" >>zone.txt
	start_dns DNS zone.txt
	run st-seed dns -o tsv --resolver "$DNS_ADDR" --timeout 2s big.test small.test
	[ "$status" -eq 75 ]
	assert_line "st-seed: big.test: reply truncated (more addresses than fit in 512 bytes)"
	refute_line --partial "[msg]"
	assert_line "11.1.1.1:7777	dns:small.test	-"
}

@test "dns: every fault of a hostile server's reply is named, a reply with the wrong id ignored" {
	local m
	for m in BADID BADLABEL LOOP BADCOUNT SHORT CUT BADLEN REFUSED SERVFAIL RCODE12 NODATA; do
		echo "${m,,}.test $m"
	done >zone.txt
	echo "good.test A 11.1.1.1" >>zone.txt
	start_dns DNS zone.txt
	# shellcheck disable=SC2046 # one word a name
	run st-seed dns -o tsv --resolver "$DNS_ADDR" --timeout 1s $(cut -d' ' -f1 zone.txt)
	echo "$output"
	[ "$status" -eq 75 ] # some failed, not all
	assert_line "11.1.1.1:7777	dns:good.test	-"
	assert_line --regexp "^st-seed: badid.test: timed out \([0-9]+ replies not ours, the last: wrong id \([0-9]+, not [0-9]+\)\)$"
	# the answer follows the 19-byte question of these 5-letter names: at byte 31
	assert_line "st-seed: badlabel.test: malformed reply to A: bad label: type 0x80 at byte 31"
	assert_line "st-seed: loop.test: malformed reply to A: bad label: the name pointer at byte 27 points forward, to 27"
	assert_line "st-seed: badcount.test: malformed reply to A: bad count: 3 answers announced, the reply ends after 1"
	assert_line "st-seed: short.test: malformed reply to A: truncated: 7 bytes, shorter than a header"
	assert_line --partial "st-seed: cut.test: malformed reply to A: truncated: answer 1 of 1 has 4 data bytes, the reply ends first; malformed reply to AAAA: truncated: answer 1 of 1 has 16 data bytes"
	assert_line --partial "st-seed: badlen.test: malformed reply to A: bad A record: 5 bytes, not 4; malformed reply to AAAA: bad AAAA record: 17 bytes, not 16"
	assert_line "st-seed: refused.test: error to A: the server answered REFUSED (rcode 5)"
	assert_line "st-seed: servfail.test: error to A: the server answered SERVFAIL (rcode 2)"
	assert_line "st-seed: rcode12.test: error to A: the server answered rcode 12"
	assert_line "st-seed: nodata.test: no A or AAAA records"
	refute_line --partial "unknown"
}

# refresh_config URL DNS: a config with a URL seed and a DNS seed
refresh_config() {
	mkdir -p "$XDG_CONFIG_HOME/spacetime"
	cat >"$XDG_CONFIG_HOME/spacetime/st.yaml" <<-EOF
	seed:
	  dns_resolver: $2
	  retries: 1
	seeds:
	  - url: $1/peers.txt
	  - dns: seed.test
	    port: 7777
	EOF
}

@test "refresh adds every seed to the address book; an unchanged list costs one 304" {
	web_lists
	zone
	start_httpd WEB www
	start_dns DNS zone.txt
	refresh_config "$WEB_URL" "$DNS_ADDR"
	# a dry run counts and changes nothing: the real run still adds all and sends no ETag
	run st-seed refresh --dry-run -o tsv
	[ "$status" -eq 0 ]
	assert_line "seed:$WEB_URL/peers.txt	ok	3	0	0	-"
	run st-addrbook list -o tsv
	[ -z "$output" ]
	run st-seed refresh -o tsv
	[ "$status" -eq 0 ]
	assert_line "seed:$WEB_URL/peers.txt	ok	3	3	0	-"
	assert_line "dns:seed.test	ok	3	3	0	-"
	run st-addrbook list -o tsv -s dns:seed.test
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	run st-addrbook list -o tsv -s "seed:$WEB_URL/peers.txt"
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	run st-seed refresh -o tsv
	[ "$status" -eq 0 ]
	assert_line "seed:$WEB_URL/peers.txt	unchanged	3	0	0	-"
	[ "$(count_log_lines WEB '^GET /peers.txt 304')" -eq 1 ]
	# an empty list is a list with nothing in it
	: >www/empty.txt
	printf '  - url: %s/empty.txt\n' "$WEB_URL" >>"$XDG_CONFIG_HOME/spacetime/st.yaml"
	run st-seed refresh -o tsv
	[ "$status" -eq 0 ]
	assert_line "seed:$WEB_URL/empty.txt	ok	0	0	0	-"
	# a changed list is fetched whole again
	sleep 1
	echo 12.0.0.1:7777 >>www/peers.txt
	run st-seed refresh -o tsv
	assert_line "seed:$WEB_URL/peers.txt	ok	4	1	0	-"
}

@test "refresh: 75 and the failing seed named when some fail, 69 when all, 66 with none" {
	web_lists
	zone
	start_httpd WEB www
	start_dns DNS zone.txt
	refresh_config "$WEB_URL/status/404" "$DNS_ADDR"
	run st-seed refresh -o tsv
	[ "$status" -eq 75 ]
	assert_line "seed:$WEB_URL/status/404/peers.txt	failed	0	0	0	HTTP 404"
	assert_line "st-seed: 1 of 2 seeds failed"
	cat >"$XDG_CONFIG_HOME/spacetime/st.yaml" <<-EOF
	seeds:
	  - url: $WEB_URL/missing.txt
	EOF
	run st-seed refresh
	[ "$status" -eq 69 ]
	echo 'seed: {retries: 1}' >"$XDG_CONFIG_HOME/spacetime/st.yaml"
	run st-seed refresh
	[ "$status" -eq 66 ]
	assert_line "st-seed: no seeds configured (the seeds: list of st.yaml)"
}

@test "refresh -q from cron prints nothing when all is well, only the failure when not" {
	web_lists
	zone
	start_httpd WEB www
	start_dns DNS zone.txt
	refresh_config "$WEB_URL" "$DNS_ADDR"
	# a list with bad lines: they are skipped, the seed is fine, and -q says nothing of them
	printf '  - url: %s/mixed.txt\n' "$WEB_URL" >>"$XDG_CONFIG_HOME/spacetime/st.yaml"
	st-seed refresh -q >out 2>err && rc=0 || rc=$?
	[ "$rc" -eq 0 ]
	[ ! -s out ]
	[ ! -s err ]
	# and it did its work
	run st-addrbook list -o tsv -s "seed:$WEB_URL/peers.txt"
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	run st-addrbook list -o tsv -s dns:seed.test
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	# without -q the same run (into another book) reports each seed and the bad lines
	ST_DATA_DIR=$BATS_TEST_TMPDIR/other run st-seed refresh
	[ "$status" -eq 0 ]
	assert_line --partial "mixed.txt:2: "
	assert_line --regexp "^dns:seed.test +ok "
	# a failing seed makes -q speak: the seed on stdout, the count on stderr, exit 75
	refresh_config "$WEB_URL/status/404" "$DNS_ADDR"
	st-seed refresh -q -o tsv >out 2>err && rc=0 || rc=$?
	[ "$rc" -eq 75 ]
	[ "$(cat out)" = "$SEED_HEADER"$'\n'"seed:$WEB_URL/status/404/peers.txt	failed	0	0	0	HTTP 404" ]
	[ "$(cat err)" = "st-seed: 1 of 2 seeds failed" ]
}

@test "refresh: a second run while one holds the lock exits 75 at once" {
	web_lists
	start_httpd WEB www
	mkdir -p "$XDG_CONFIG_HOME"
	cat >"$XDG_CONFIG_HOME/st.yaml" <<-EOF
	seeds:
	  - url: $WEB_URL/peers.txt
	EOF
	export ST_CONFIG=$XDG_CONFIG_HOME/st.yaml
	mkdir -p "$ST_DATA_DIR"
	start_bg HOLD flock -o "$ST_DATA_DIR/seeds.lock" sleep 30 # -o: only flock holds it
	for i in $(seq 50); do flock -n "$ST_DATA_DIR/seeds.lock" true || break; sleep 0.1; done
	run st-seed refresh
	[ "$status" -eq 75 ]
	assert_line "st-seed: another refresh is running"
	stop_bg HOLD
	run st-seed refresh -q
	[ "$status" -eq 0 ]
}

@test "refresh checks signatures of seeds with a public key" {
	web_lists
	openssl genpkey -algorithm ed25519 -out seed.key 2>/dev/null
	chmod 600 seed.key
	st-seed sign --key seed.key www/peers.txt
	echo 99.0.0.1:7777 >www/evil.txt
	cp www/peers.txt.sig www/evil.txt.sig
	start_httpd WEB www
	mkdir -p "$XDG_CONFIG_HOME"
	cat >"$XDG_CONFIG_HOME/st.yaml" <<-EOF
	seeds:
	  - url: $WEB_URL/peers.txt
	    public_key: $(st-seed pubkey --key seed.key)
	  - url: $WEB_URL/evil.txt
	    public_key: $PWD/seed.key
	EOF
	export ST_CONFIG=$XDG_CONFIG_HOME/st.yaml
	run st-seed refresh -o tsv
	[ "$status" -eq 75 ]
	assert_line "seed:$WEB_URL/peers.txt	ok	3	3	0	-"
	assert_line "seed:$WEB_URL/evil.txt	failed	0	0	0	bad signature"
	run st-addrbook list -o tsv
	refute_line --partial 99.0.0.1
}

@test "fetch into st-addrbook end to end, with the seed as each entry's source" {
	web_lists
	start_httpd WEB www
	st-seed fetch -q -o tsv "$WEB_URL/peers.txt" "$WEB_URL/peers.json" | st-addrbook add -q
	run st-addrbook list -o tsv -s "seed:$WEB_URL/peers.json"
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	run st-addrbook list -o tsv -s "seed:$WEB_URL/peers.txt"
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
}

@test "usage errors" {
	run st-seed fetch
	[ "$status" -eq 2 ]
	run st-seed fetch --format yaml x
	[ "$status" -eq 2 ]
	assert_line "st-seed: --format: 'yaml': expected auto, text, json or bitcoin"
	run st-seed sign list.txt
	[ "$status" -eq 2 ]
	run st-seed refresh extra
	[ "$status" -eq 2 ]
	run st-seed dns --port 0 x
	[ "$status" -eq 2 ]
}
