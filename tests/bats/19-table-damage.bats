#!/usr/bin/env bats
# The bans, peers and seeds tables damaged from outside: a flipped byte, a cut,
# a bad checksum, a newer version, well-formed lies and a duplicated line. Each
# gives a clear error naming file and line, or a fallback with the right
# answer, and fsck --repair keeps every entry that reads. (The address book and
# its indexes: 15-addrbook-integrity.bats.) Addresses are data only; nothing is
# dialed but the local HTTP server of the seed tests.

load helpers

export ST_FAKE_NOW=1750000000

# table NAME LINE...: writes NAME.tsv, a snapshot of generation 1 holding the
# lines (fields separated by spaces here, tabs in the file), and no journal
table() {
	local name=$1 l
	shift
	mkdir -p "$ST_DATA_DIR"
	chmod 700 "$ST_DATA_DIR"
	{
		echo "#st $name 1 gen 1"
		for l in "$@"; do tr ' ' '\t' <<<"$l"; done
	} >"$ST_DATA_DIR/$name.tsv"
	rm -f "$ST_DATA_DIR/$name.journal"
}

three_bans() {
	table bans "127.0.9.0/24 1700000000 1800000000 manual -" \
		"p5 1700000000 0 manual spam" "127.0.8.1/32 1700000000 0 automatic -"
}

# damaged_bans LINE: st-peers stops with 65 naming bans.tsv:LINE, and
# --repair keeps the two other bans
damaged_bans() {
	run st-peers bans
	[ "$status" -eq 65 ]
	assert_output --partial "bans.tsv:$1"
	run st-peers fsck
	[ "$status" -eq 65 ]
	assert_output --partial "try 'st-peers fsck --repair'"
	run st-peers fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 2 entries kept, 1 lines lost"
	[ -f "$ST_DATA_DIR/bans.tsv.bak" ]
	[ "$(st-peers bans -o tsv | records | wc -l)" -eq 2 ]
	run st-peers fsck
	assert_output "st-peers: ok: 2 entries"
}

@test "bans: a flipped byte is damage at its line, and --repair keeps the other bans" {
	three_bans
	sed -i '3s/1700000000/17000x0000/' "$ST_DATA_DIR/bans.tsv"
	damaged_bans 3
	run st-peers check 127.0.9.1
	[ "$status" -eq 1 ]
	run st-peers check 127.0.8.1
	[ "$status" -eq 1 ]
}

@test "bans: a snapshot cut short is damage, and --repair keeps the whole lines" {
	three_bans
	truncate -s -6 "$ST_DATA_DIR/bans.tsv"
	damaged_bans 4
	run st-peers check p5
	[ "$status" -eq 1 ]
}

@test "bans: a bad checksum before the journal's last line is damage at its line" {
	st-peers ban -q 127.0.9.0/24
	st-peers ban -q --permanent p5
	st-peers ban -q --permanent 127.0.8.1
	sed -i '3s/#[0-9a-f]*$/#00000000/' "$ST_DATA_DIR/bans.journal"
	run st-peers bans
	[ "$status" -eq 65 ]
	assert_output --partial "bans.journal:3: bad checksum"
	run st-peers fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 2 entries kept, 1 lines lost"
	run st-peers check 127.0.9.1
	[ "$status" -eq 0 ]
	run st-peers check p5
	[ "$status" -eq 1 ]
}

@test "bans: a newer format is refused and never rewritten, not even by --repair" {
	three_bans
	sed -i '1s/ 1 gen/ 2 gen/' "$ST_DATA_DIR/bans.tsv"
	cp "$ST_DATA_DIR/bans.tsv" before.tsv
	run st-peers bans
	[ "$status" -eq 65 ]
	assert_output --partial "newer"
	run st-peers fsck --repair
	[ "$status" -eq 65 ]
	cmp before.tsv "$ST_DATA_DIR/bans.tsv"
	[ ! -e "$ST_DATA_DIR/bans.tsv.bak" ]
}

@test "bans: well-formed lies are damage at their line, or change no verdict" {
	# a ban that expires before it was made, and one made after year 9999
	three_bans
	sed -i '2s/1700000000/1900000000/' "$ST_DATA_DIR/bans.tsv"
	damaged_bans 2
	three_bans
	sed -i '4s/1700000000/253402300800/' "$ST_DATA_DIR/bans.tsv"
	damaged_bans 4
	# expiring in year 9999 and made in 5138: believed as it says, banned till then
	table bans "127.0.9.0/24 99999999999 253402300799 manual -"
	run st-peers check 127.0.9.1
	[ "$status" -eq 1 ]
	run st-peers fsck
	[ "$status" -eq 0 ]
}

@test "bans: a duplicated line is damage, and --repair keeps one ban of the two" {
	three_bans
	sed -i '3p' "$ST_DATA_DIR/bans.tsv"
	run st-peers bans
	[ "$status" -eq 65 ]
	assert_output --partial "bans.tsv:4: a second line for 'p5'"
	run st-peers fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 3 entries kept, 1 lines lost"
	run st-peers check p5
	[ "$status" -eq 1 ]
}

@test "peers: a line claiming verified for an id no certificate proves, or twice, is damage" {
	table peers "p1 1700000000 1700000000 0 0 0 0 1 0 127.0.0.1:7777 -" \
		"p2 1700000000 1700000000 0 0 0 0 1 1 127.0.0.2:7777 -" \
		"p3 1700000000 1700000000 0 0 0 0 1 0 127.0.0.3:7777 -"
	run st-peers list
	[ "$status" -eq 65 ]
	assert_output --partial "peers.tsv:3: 'p2' marked verified, but no certificate proves"
	run st-peers fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 2 entries kept, 1 lines lost"
	run st-peers show p1
	[ "$status" -eq 0 ]
	# verified that is neither 0 nor 1, and a peer twice
	table peers "p1 1700000000 1700000000 0 0 0 0 1 7 127.0.0.1:7777 -"
	run st-peers list
	[ "$status" -eq 65 ]
	assert_output --partial "peers.tsv:2: verified must be 0 or 1"
	table peers "p1 1700000000 1700000000 0 0 0 0 1 0 127.0.0.1:7777 -" \
		"p1 1700000000 1700000000 0 0 0 0 1 0 127.0.0.1:7777 -"
	run st-peers list
	[ "$status" -eq 65 ]
	assert_output --partial "peers.tsv:3: a second line for 'p1'"
	# ingest never stores a claim as verified
	rm -f "$ST_DATA_DIR"/peers.*
	printf '#endpoint\tstatus\tnode_id\tverified\tversion\tuser_agent\n127.0.0.4:7777\tok\tp4\ttrue\t1\tua\n' |
		st-peers ingest -q
	run st-peers list -o tsv
	[ "$status" -eq 0 ]
	[ "$(col node_id verified <<<"$output" | grep '^p4')" = $'p4\tfalse' ]
}

# the seeds cache of a refresh from a local server, two lists
seeds_setup() {
	mkdir -p www
	echo 127.0.0.9:7777 >www/a.txt
	echo 127.0.0.10:7777 >www/b.txt
	start_httpd WEB www
	mkdir -p "$XDG_CONFIG_HOME/spacetime"
	cat >"$XDG_CONFIG_HOME/spacetime/st.yaml" <<-EOF
	addrbook:
	  allow_private: true
	seed:
	  retries: 1
	seeds:
	  - url: $WEB_URL/a.txt
	  - url: $WEB_URL/b.txt
	EOF
	st-seed refresh -q
	[ "$(wc -l <"$ST_DATA_DIR/seeds.tsv")" -eq 3 ]
}

# damaged_seeds LINE: refresh and fsck stop with 65 naming seeds.tsv:LINE,
# --repair keeps the other list, and a refresh after it is right
damaged_seeds() {
	run st-seed refresh -q
	[ "$status" -eq 65 ]
	assert_output --partial "seeds.tsv:$1"
	assert_output --partial "try 'st-seed fsck --repair'"
	run st-seed fsck
	[ "$status" -eq 65 ]
	assert_output --partial "seeds.tsv:$1"
	run st-seed fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 1 entries kept, 1 lines lost"
	[ -f "$ST_DATA_DIR/seeds.tsv.bak" ]
	run st-seed fsck
	assert_output "st-seed: ok: 1 entries"
	# the lost line costs one full download; the kept one is still a 304
	run st-seed refresh -o tsv
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | cut -f2 | sort | tr '\n' ' ')" = "ok unchanged " ]
}

@test "seeds cache: a flipped byte is damage at its line; fsck --repair keeps the other list" {
	seeds_setup
	sed -i '2s/\t\([0-9]*\)\t1$/\t17x\1\t1/' "$ST_DATA_DIR/seeds.tsv"
	damaged_seeds 2
}

@test "seeds cache: a cut last line, a duplicated line and a field too long are damage" {
	seeds_setup
	cp "$ST_DATA_DIR/seeds.tsv" good.tsv
	truncate -s -3 "$ST_DATA_DIR/seeds.tsv"
	damaged_seeds 3
	cp good.tsv "$ST_DATA_DIR/seeds.tsv"
	sed -i '2p' "$ST_DATA_DIR/seeds.tsv"
	run st-seed fsck
	[ "$status" -eq 65 ]
	assert_output --partial "seeds.tsv:3: a second line for"
	awk -F'\t' -v OFS='\t' 'NR == 2 { $2 = sprintf("%300s", "x") } 1' good.tsv >"$ST_DATA_DIR/seeds.tsv"
	run st-seed fsck
	[ "$status" -eq 65 ]
	assert_output --partial "seeds.tsv:2: etag longer than 255 bytes"
}

@test "seeds cache: a newer format is refused, and --repair leaves it alone" {
	seeds_setup
	sed -i '1s/ 1 gen/ 2 gen/' "$ST_DATA_DIR/seeds.tsv"
	cp "$ST_DATA_DIR/seeds.tsv" before.tsv
	run st-seed refresh -q
	[ "$status" -eq 65 ]
	assert_output --partial "newer"
	run st-seed fsck --repair
	[ "$status" -eq 65 ]
	cmp before.tsv "$ST_DATA_DIR/seeds.tsv"
}

@test "seeds cache: an entry fetched in the future is not believed: its list is fetched whole" {
	seeds_setup
	# the list changed, and a lying entry claims its new version (the server's
	# ETag: the start of the content's SHA-256) was applied, in year 9999
	echo 127.0.0.11:7777 >>www/a.txt
	etag="\"$(sha256sum www/a.txt | cut -c1-16)\""
	awk -F'\t' -v OFS='\t' -v e="$etag" 'NR == 2 { $2 = e; $4 = "253402300799" } 1' \
		"$ST_DATA_DIR/seeds.tsv" >s.tsv
	cp s.tsv "$ST_DATA_DIR/seeds.tsv"
	run st-seed refresh -o tsv
	[ "$status" -eq 0 ]
	assert_line "seed:$WEB_URL/a.txt	ok	2	1	0	-"
	run st-addrbook list -o tsv
	assert_output --partial "127.0.0.11:7777"
}

@test "seeds cache: repair: auto repairs once, says so even with -q, and refreshes" {
	seeds_setup
	sed -i '3s/\t[0-9]*$/\tmany/' "$ST_DATA_DIR/seeds.tsv"
	echo "repair: auto" >>"$XDG_CONFIG_HOME/spacetime/st.yaml"
	run st-seed refresh -q
	[ "$status" -eq 0 ]
	[[ "$output" == *"seeds.tsv:3"*"repaired (repair: auto): 1 entries kept, 1 lines lost"* ]]
	[ -f "$ST_DATA_DIR/seeds.tsv.bak" ]
	run st-seed refresh -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run st-seed fsck
	assert_output "st-seed: ok: 2 entries"
}

teardown() {
	stop_all_bg
}
