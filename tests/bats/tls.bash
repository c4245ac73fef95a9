# tls.bash - node identities for the TLS tests, made at test time in $BATS_TEST_TMPDIR
# (no key is ever committed): good ones with st-keygen, bad ones with the openssl CLI.
# Each maker writes DIR/node.key (0600) and DIR/node.crt, the files a node's data dir
# holds, so `--data-dir DIR` (or node.key / node.cert) points a program at them.

# tls_node NAME: st-keygen --out $BATS_TEST_TMPDIR/NAME; sets NAME_DIR and NAME_ID.
tls_node() {
	local d="$BATS_TEST_TMPDIR/$1" id
	id=$(st-keygen -q --out "$d") || { echo "tls_node: st-keygen failed" >&2; return 1; }
	printf -v "${1}_DIR" '%s' "$d"
	printf -v "${1}_ID" '%s' "$id"
	export "${1}_DIR" "${1}_ID"
}

# _tls_selfsign DIR START END: a self-signed certificate for DIR/node.key with the given
# dates (YYYYMMDDHHMMSSZ), through `openssl ca -selfsign`, the one OpenSSL 3.0 tool
# that takes dates in the past.
_tls_selfsign() {
	local d=$1 out
	mkdir -p "$d/ca" && : >"$d/ca/index.txt" && echo 01 >"$d/ca/serial" || return 1
	cat >"$d/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
database = $d/ca/index.txt
new_certs_dir = $d/ca
serial = $d/ca/serial
default_md = default
policy = p
unique_subject = no
[p]
commonName = supplied
EOF
	out=$({
		openssl req -new -key "$d/node.key" -subj /CN=st-test -out "$d/node.csr" &&
			openssl ca -batch -notext -config "$d/ca.cnf" -selfsign -keyfile "$d/node.key" \
				-in "$d/node.csr" -startdate "$2" -enddate "$3" -out "$d/node.crt"
	} 2>&1) || { echo "_tls_selfsign: $out" >&2; return 1; }
	rm -rf "$d/ca" "$d/ca.cnf" "$d/node.csr"
}

# _tls_key DIR ALG: a new private key (ed25519, rsa, ec) at DIR/node.key, mode 0600.
_tls_key() {
	mkdir -p "$1" && chmod 700 "$1" || return 1
	case $2 in
	ed25519) openssl genpkey -algorithm ed25519 -out "$1/node.key" 2>/dev/null ;;
	rsa) openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$1/node.key" 2>/dev/null ;;
	ec) openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out "$1/node.key" 2>/dev/null ;;
	esac || return 1
	chmod 600 "$1/node.key"
}

# tls_expired NAME: an Ed25519 key and a self-signed certificate that expired in 2021.
tls_expired() {
	local d="$BATS_TEST_TMPDIR/$1"
	_tls_key "$d" ed25519 && _tls_selfsign "$d" 20200101000000Z 20210101000000Z || return 1
	printf -v "${1}_DIR" '%s' "$d"
	export "${1}_DIR"
}

# tls_not_yet_valid NAME: an Ed25519 certificate valid only from 2099.
tls_not_yet_valid() {
	local d="$BATS_TEST_TMPDIR/$1"
	_tls_key "$d" ed25519 && _tls_selfsign "$d" 20990101000000Z 21000101000000Z || return 1
	printf -v "${1}_DIR" '%s' "$d"
	export "${1}_DIR"
}

# tls_wrong_alg NAME rsa|ec: a valid self-signed certificate, but for an RSA or ECDSA key.
tls_wrong_alg() {
	local d="$BATS_TEST_TMPDIR/$1"
	_tls_key "$d" "$2" || return 1
	openssl req -x509 -new -key "$d/node.key" -subj /CN=st-test -days 30 \
		-out "$d/node.crt" 2>/dev/null || return 1
	printf -v "${1}_DIR" '%s' "$d"
	export "${1}_DIR"
}

# tls_other_signer NAME: an Ed25519 certificate for the node's key, signed by another key.
tls_other_signer() {
	local d="$BATS_TEST_TMPDIR/$1" s="$BATS_TEST_TMPDIR/$1/signer"
	_tls_key "$d" ed25519 && _tls_key "$s" ed25519 || return 1
	{
		openssl req -x509 -new -key "$s/node.key" -subj /CN=st-test -days 30 -out "$s/node.crt" &&
			openssl req -new -key "$d/node.key" -subj /CN=st-test -out "$d/node.csr" &&
			openssl x509 -req -in "$d/node.csr" -CA "$s/node.crt" -CAkey "$s/node.key" \
				-set_serial 7 -days 30 -out "$d/node.crt"
	} 2>/dev/null || return 1
	rm -rf "$d/node.csr" "$s"
	printf -v "${1}_DIR" '%s' "$d"
	export "${1}_DIR"
}

# tls_malformed NAME: a good Ed25519 key and a certificate file that is not one (a PEM
# armour around bytes cut from a real certificate).
tls_malformed() {
	local d="$BATS_TEST_TMPDIR/$1"
	tls_node "$1" || return 1
	{
		echo "-----BEGIN CERTIFICATE-----"
		sed -n '2,4p' "$d/node.crt"
		echo "-----END CERTIFICATE-----"
	} >"$d/node.crt.2" && mv "$d/node.crt.2" "$d/node.crt"
}
