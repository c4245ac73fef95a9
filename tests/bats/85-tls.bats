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
