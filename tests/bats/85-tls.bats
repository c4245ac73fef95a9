#!/usr/bin/env bats
# TLS between nodes: ids proven by certificates (st-protocol(7)), the fixtures it is tested with.

load helpers
load tls

@test "tls fixtures: st-keygen nodes, and openssl's expired, future, wrong-algorithm, foreign-signed and malformed certificates" {
	tls_node A
	[[ "$A_ID" =~ ^st1[a-z2-7]{38}$ ]]
	[ "$(st-keygen --show "$A_DIR/node.crt")" = "$A_ID" ]
	tls_expired OLD
	run openssl x509 -in "$OLD_DIR/node.crt" -noout -checkend 0
	[ "$status" -ne 0 ]
	[ "$(stat -c %a "$OLD_DIR/node.key")" = 600 ]
	tls_not_yet_valid NEW
	run openssl x509 -in "$NEW_DIR/node.crt" -noout -startdate
	[[ "$output" == *2099* ]]
	tls_wrong_alg RSA rsa
	run st-keygen --show "$RSA_DIR/node.crt"
	[ "$status" -eq 65 ]
	[[ "$output" == *"not an Ed25519 key"* ]]
	tls_wrong_alg EC ec
	run st-keygen --show "$EC_DIR/node.crt"
	[ "$status" -eq 65 ]
	tls_other_signer FOREIGN
	run st-keygen --show "$FOREIGN_DIR/node.crt"
	[ "$status" -eq 65 ]
	[[ "$output" == *"not signed by its own key"* ]]
	tls_malformed BAD
	run st-keygen --show "$BAD_DIR/node.crt"
	[ "$status" -eq 65 ]
	[[ "$output" == *"not a PEM certificate"* ]]
	[ "$(st-keygen --show "$BAD_DIR/node.key")" = "$BAD_ID" ]
}

tls_peer() { # tls_peer NAME DIR NODE_ID: peer.py's TLS listener with DIR's certificate; sets NAME_ADDR
	start_bg "$1" python3 "$ST_TOP/tests/bats/tools/peer.py" tls "$2" "$3"
	wait_for_line "$BATS_TEST_TMPDIR/$1.out" '^listening ' 20
	printf -v "${1}_ADDR" '%s' "$(sed -n 's/^listening //p' "$BATS_TEST_TMPDIR/$1.out")"
}

# inbound NAME: the records a -o tsv listener wrote so far (waits for one)
inbound() {
	wait_for_line "$BATS_TEST_TMPDIR/$1.out" $'^[^#]' 10 >/dev/null
	cat "$BATS_TEST_TMPDIR/$1.out"
}

@test "mutual TLS: both sides verified, each with the id of the other's key" {
	tls_node A
	tls_node B
	start_listener L --tls -o tsv --data-dir "$B_DIR"
	run st-connect --tls -o tsv --ping --data-dir "$A_DIR" "$L_ADDR"
	[ "$status" -eq 0 ]
	[ "$(col status node_id verified <<<"$output")" = "ok	$B_ID	true" ]
	[[ "$(col rtt_ms <<<"$output")" =~ ^[0-9]+$ ]]
	[ "$(inbound L | col status node_id verified)" = "ok	$A_ID	true" ]
	# config tls: true is the same as --tls
	ST_TLS=true run st-connect -o tsv --data-dir "$A_DIR" "$L_ADDR"
	[ "$(col status verified <<<"$output")" = "ok	true" ]
	# without TLS the same listener gets no st message through
	run st-connect -o tsv --data-dir "$A_DIR" "$L_ADDR"
	[ "$(col status <<<"$output")" = protocol-error ]
	[[ "$(col error <<<"$output")" == *"a TLS port? dial it with --tls"* ]]
}

@test "a pinned id: the right one is taken, another ends the TLS handshake before any st message" {
	tls_node A
	tls_node B
	start_listener L --tls -o tsv --data-dir "$B_DIR"
	run st-connect --tls -o tsv --data-dir "$A_DIR" "$B_ID@$L_ADDR"
	[ "$(col status node_id verified <<<"$output")" = "ok	$B_ID	true" ]
	# from the record stream too, pinned to the wrong id (A's own)
	run st-connect --tls -o tsv --data-dir "$A_DIR" <<<"$A_ID@$L_ADDR"
	[ "$status" -eq 69 ]
	[ "$(col status verified <<<"$output")" = "identity-mismatch	false" ]
	[[ "$(col error <<<"$output")" == *"certificate of $B_ID, not the pinned $A_ID"* ]]
	# the listener never saw a handshake: its record has no node id
	wait_for_line "$BATS_TEST_TMPDIR/L.out" 'tls-error' 10
	[ "$(grep tls-error "$BATS_TEST_TMPDIR/L.out" | cut -f3,4,11)" = "tls-error	-	the peer refused our certificate (sslv3 alert bad certificate)" ]
}

@test "an impostor with its own key claiming the real node's id is rejected, and the failure is its own" {
	tls_node A
	tls_node B
	tls_node IMP
	tls_peer P "$IMP_DIR" "$B_ID"
	run st-connect --tls -o tsv --update --data-dir "$A_DIR" "$P_ADDR"
	[ "$status" -eq 69 ]
	[ "$(col status node_id verified <<<"$output")" = "identity-mismatch	$IMP_ID	true" ]
	[[ "$(col error <<<"$output")" == *"certificate proves $IMP_ID, handshake claims $B_ID"* ]]
	# the books hold the failure against the impostor's proven id, not against B
	run st-peers --data-dir "$A_DIR" show -o tsv "$IMP_ID"
	[ "$(col failures verified <<<"$output")" = "1	true" ]
	run st-peers --data-dir "$A_DIR" show "$B_ID"
	[ "$status" -ne 0 ]
	# and an impostor client claiming A's id gets no HandshakeAck from a TLS listener
	start_listener L --tls -o tsv --data-dir "$B_DIR"
	run python3 "$ST_TOP/tests/bats/tools/peer.py" tlsdial "$L_ADDR" "$IMP_DIR" "$A_ID"
	[[ "$output" == closed* ]]
	[ "$(inbound L | col status node_id verified)" = "identity-mismatch	$IMP_ID	true" ]
}

@test "expired, not yet valid, malformed and wrong-algorithm certificates are refused, each by name" {
	tls_node A
	tls_expired OLD
	tls_not_yet_valid NEW
	tls_wrong_alg RSA rsa
	tls_other_signer FOREIGN
	tls_malformed BAD
	# our own: the program says so and does not start
	run st-listen --tls --bind 127.0.0.1:0 --data-dir "$OLD_DIR"
	[ "$status" -eq 65 ]
	[[ "$output" == *"certificate expired on 2021-01-01"* ]]
	run st-connect --tls --data-dir "$BAD_DIR" 127.0.0.1:9
	[ "$status" -eq 65 ]
	[[ "$output" == *"not a PEM certificate"* ]]
	run st-connect --tls --data-dir "$RSA_DIR" 127.0.0.1:9
	[ "$status" -eq 65 ]
	[[ "$output" == *"not an Ed25519 key"* ]]
	# a peer's: the TLS handshake ends, with the reason
	tls_peer P1 "$OLD_DIR" x
	tls_peer P2 "$RSA_DIR" x
	tls_peer P3 "$FOREIGN_DIR" x
	tls_peer P4 "$NEW_DIR" x
	run st-connect --tls -o tsv --data-dir "$A_DIR" "$P1_ADDR" "$P2_ADDR" "$P3_ADDR" "$P4_ADDR"
	[ "$status" -eq 69 ]
	errs=$(col endpoint status error <<<"$output")
	grep -qF "$P1_ADDR	tls-error	peer certificate expired on 2021-01-01" <<<"$errs"
	grep -qF "$P2_ADDR	tls-error	peer certificate: a RSA key, not Ed25519 (wrong algorithm)" <<<"$errs"
	grep -qF "$P3_ADDR	tls-error	peer certificate: not signed by its own key (malformed)" <<<"$errs"
	grep -qF "$P4_ADDR	tls-error	peer certificate not valid before 2099-01-01" <<<"$errs"
	# a client's, at a TLS listener
	start_listener L --tls -o tsv --data-dir "$A_DIR"
	run python3 "$ST_TOP/tests/bats/tools/peer.py" tlsdial "$L_ADDR" "$OLD_DIR" x
	[[ "$output" == closed* ]]
	[[ "$(inbound L | col status error)" == "tls-error	peer certificate expired on 2021-01-01"* ]]
}

@test "trust on first use: an endpoint that proves another id is told, and refused with --strict" {
	tls_node A
	tls_node B
	tls_node C
	port=$(free_port)
	start_listener L --tls --bind "127.0.0.1:$port" --data-dir "$B_DIR"
	run st-connect --tls -o tsv --update --data-dir "$A_DIR" "127.0.0.1:$port"
	[ "$(col status verified <<<"$output")" = "ok	true" ]
	stop_bg L
	# another key at the same endpoint
	start_listener L2 --tls --bind "127.0.0.1:$port" --data-dir "$C_DIR"
	run st-connect --tls -o tsv --strict --update --data-dir "$A_DIR" "127.0.0.1:$port"
	[ "$status" -eq 69 ]
	[ "$(col status <<<"$output")" = identity-changed ]
	[[ "$(col error <<<"$output")" == *"certificate of $C_ID, the endpoint proved $B_ID before (refused: strict)"* ]]
	# refused: no book changed, B still holds the endpoint
	run st-peers --data-dir "$A_DIR" show "$C_ID"
	[ "$status" -ne 0 ]
	# without --strict: taken, and said
	run st-connect --tls -o tsv --update --data-dir "$A_DIR" "127.0.0.1:$port"
	[ "$status" -eq 0 ]
	[[ "$output" == *"identity changed: it proved $C_ID, it was $B_ID"* ]]
	[ "$(grep -v '^st-connect: ' <<<"$output" | col status node_id verified)" = "ok	$C_ID	true" ]
	# a pin on the new id is the operator's word: taken even with --strict
	run st-connect --tls -o tsv --strict --data-dir "$A_DIR" "$C_ID@127.0.0.1:$port"
	[ "$(col status <<<"$output")" = ok ]
}

@test "plain and TLS mixed up: each side names it, within the timeout" {
	tls_node A
	tls_node B
	start_listener T --tls -o tsv --data-dir "$B_DIR"
	start_listener P -o tsv --data-dir "$A_DIR/plain"
	run st-connect --timeout 5s -o tsv --data-dir "$A_DIR" "$T_ADDR"
	[ "$(col status <<<"$output")" = protocol-error ]
	[[ "$(inbound T | col status error)" == "tls-error	not TLS: the peer does not speak TLS (a plain st node?)" ]]
	run st-connect --tls --timeout 5s -o tsv --data-dir "$A_DIR" "$P_ADDR"
	[ "$(col status <<<"$output")" = tls-error ]
	[[ "$(col error <<<"$output")" == *"closed the connection during the TLS handshake"* ]]
	[ "$(inbound P | col status error)" = "tls-error	the peer speaks TLS: a TLS client on a plain port" ]
}

@test "over TLS, a port nobody listens on is refused, not a TLS error" {
	tls_node A
	port=$(free_port)
	run st-connect --tls --timeout 5s -o tsv --data-dir "$A_DIR" "127.0.0.1:$port"
	[ "$status" -eq 69 ]
	[ "$(col status error <<<"$output")" = "refused	Connection refused" ]
	# and the book counts it as the failure it is
	run st-connect --tls --update --timeout 5s -o tsv --data-dir "$A_DIR" "127.0.0.1:$port"
	[ "$(col status <<<"$output")" = refused ]
}
