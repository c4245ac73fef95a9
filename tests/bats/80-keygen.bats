#!/usr/bin/env bats
# st-keygen: the node's key, its self-signed certificate and its node id.

load helpers

mode() { stat -c %a "$1"; }

@test "keygen writes node.key and node.crt 0600 and prints the id --show reads back" {
	run st-keygen --out keys
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	id=$output
	[[ "$id" =~ ^st1[a-z2-7]{38}$ ]]
	[ "$(mode keys/node.key)" = 600 ]
	[ "$(mode keys/node.crt)" = 600 ]
	run st-keygen --show keys/node.key
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	run st-keygen --show keys/node.crt
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	run st-keygen --show --out keys
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	[ "$(ls -A keys | wc -l)" -eq 2 ]
}

@test "keygen defaults to the data dir, and --show to its node.crt, else node.key" {
	run st-keygen
	[ "$status" -eq 0 ]
	id=$output
	[ -f "$ST_DATA_DIR/node.key" ] && [ -f "$ST_DATA_DIR/node.crt" ]
	[ "$(mode "$ST_DATA_DIR")" = 700 ]
	run st-keygen --show
	[ "$output" = "$id" ]
	rm "$ST_DATA_DIR/node.crt"
	run st-keygen --show
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	rm "$ST_DATA_DIR/node.key"
	run st-keygen --show
	[ "$status" -eq 66 ]
	run st-keygen --data-dir elsewhere
	[ "$status" -eq 0 ]
	[ -f elsewhere/node.key ]
}

@test "keygen refuses to overwrite without --force; --force replaces and the id changes" {
	run st-keygen --out keys
	[ "$status" -eq 0 ]
	id=$output
	cp keys/node.key key.before
	cp keys/node.crt crt.before
	run st-keygen --out keys
	[ "$status" -eq 73 ]
	assert_output "st-keygen: 'keys/node.key' exists (--force replaces it)"
	cmp keys/node.key key.before
	cmp keys/node.crt crt.before
	rm keys/node.key
	run st-keygen --out keys
	[ "$status" -eq 73 ]
	assert_output "st-keygen: 'keys/node.crt' exists (--force replaces it)"
	[ ! -e keys/node.key ]
	cp key.before keys/node.key
	run st-keygen --out keys --force
	[ "$status" -eq 0 ]
	[ "$output" != "$id" ]
	! cmp -s keys/node.key key.before
	run st-keygen --show keys/node.crt
	[ "$output" != "$id" ]
	[ "$(mode keys/node.key)" = 600 ]
	[ "$(ls -A keys | wc -l)" -eq 2 ]
}

@test "a symlink planted at node.key is refused, with or without --force, and its target is untouched" {
	mkdir -m 700 keys
	echo precious >target
	ln -s "$PWD/target" keys/node.key
	run st-keygen --out keys
	[ "$status" -eq 73 ]
	assert_output --partial "'keys/node.key'"
	run st-keygen --out keys --force
	[ "$status" -eq 73 ]
	assert_output "st-keygen: 'keys/node.key' is a symbolic link: not replaced"
	[ "$(cat target)" = precious ]
	[ -L keys/node.key ]
	[ ! -e keys/node.crt ]
	run st-keygen --show keys/node.key
	[ "$status" -eq 65 ]
	assert_output "st-keygen: file 'keys/node.key' is a symbolic link: refused"
}

@test "--show refuses a key that group or others can read" {
	st-keygen --out keys >/dev/null
	chmod 644 keys/node.key
	run st-keygen --show keys/node.key
	[ "$status" -eq 65 ]
	assert_output "st-keygen: key 'keys/node.key' is readable by group or others (chmod 600 it)"
	rm keys/node.crt
	run st-keygen --show --out keys
	[ "$status" -eq 65 ]
	# a certificate is public
	st-keygen --out k2 >/dev/null
	chmod 644 k2/node.crt
	run st-keygen --show k2/node.crt
	[ "$status" -eq 0 ]
}

@test "--show rejects what is not a key or a certificate" {
	echo hello >junk
	run st-keygen --show junk
	[ "$status" -eq 65 ]
	assert_output "st-keygen: 'junk': not a certificate or key"
	run st-keygen --show nosuchfile
	[ "$status" -eq 66 ]
	run st-keygen --show a b
	[ "$status" -eq 2 ]
	run st-keygen extra
	[ "$status" -eq 2 ]
	run st-keygen --show --force
	[ "$status" -eq 2 ]
}

@test "openssl reads the certificate: Ed25519, CN = the node id, self-signed, valid 10 years" {
	command -v openssl >/dev/null || skip "openssl is not installed"
	run st-keygen --out keys
	id=$output
	run openssl x509 -in keys/node.crt -noout -text
	[ "$status" -eq 0 ]
	assert_output --partial "Signature Algorithm: ED25519"
	assert_output --partial "Public Key Algorithm: ED25519"
	run openssl x509 -in keys/node.crt -noout -subject -nameopt RFC2253
	[ "$output" = "subject=CN=$id" ]
	run openssl x509 -in keys/node.crt -noout -issuer -nameopt RFC2253
	[ "$output" = "issuer=CN=$id" ]
	run openssl verify -CAfile keys/node.crt -check_ss_sig -partial_chain keys/node.crt
	[ "$status" -eq 0 ]
	# valid for more than 9 years from now
	run openssl x509 -in keys/node.crt -noout -checkend $((9 * 366 * 86400))
	[ "$status" -eq 0 ]
	# the key openssl reads is the certificate's
	a=$(openssl pkey -in keys/node.key -pubout)
	b=$(openssl x509 -in keys/node.crt -noout -pubkey)
	[ "$a" = "$b" ]
}
