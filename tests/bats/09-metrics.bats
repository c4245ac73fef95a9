#!/usr/bin/env bats
# stats -o prom: Prometheus text exposition for node_exporter's textfile collector.

load helpers

check() {
	"$ST_TOP/tests/bats/tools/prom-check" "$@"
}

@test "st-addrbook stats -o prom: HELP and TYPE per family, st_addrbook_ names, the json values" {
	st-addrbook add --allow-private -s manual 127.0.0.1:7001 127.0.0.2:7002 '[::1]:7003' 2>/dev/null
	# a source from outside, with what a label value must escape
	st-addrbook add -s 'seed:http://x/"a\b' 192.0.2.1:7777 2>/dev/null || true
	st-addrbook add -s 'seed:http://x/"a\b' 8.8.8.8:7777 2>/dev/null
	st-addrbook record 127.0.0.1:7001 ok >/dev/null
	st-addrbook stats -o prom >st.prom
	st-addrbook stats -o json >st.json
	run check st_addrbook st.prom st.json
	[ "$status" -eq 0 ] || { echo "$output"; cat st.prom; false; }
	run grep -x 'st_addrbook_addresses 4' st.prom
	[ "$status" -eq 0 ] || { cat st.prom; false; }
	grep -qx '# TYPE st_addrbook_addresses_by_family gauge' st.prom
	grep -qx 'st_addrbook_addresses_by_family{family="ipv6"} 1' st.prom
	grep -qx 'st_addrbook_addresses_by_table{table="tried"} 1' st.prom
	grep -qxF 'st_addrbook_addresses_by_source{source="seed:http://x/\"a\\b"} 1' st.prom
	# and the check finds fault: a sample whose value differs from the json's
	sed 's/^st_addrbook_addresses 4$/st_addrbook_addresses 5/' st.prom >bad.prom
	run check st_addrbook bad.prom st.json
	[ "$status" -eq 1 ]
	sed '/^# TYPE st_addrbook_addresses_by_class/d' st.prom >bad.prom
	run check st_addrbook bad.prom st.json
	[ "$status" -eq 1 ]
}

@test "st-peers stats -o prom: peers, reputations and bans as st_peers_ gauges" {
	st-peers add node-a 127.0.0.1:7001 >/dev/null
	st-peers add node-b 127.0.0.2:7002 >/dev/null
	st-peers success node-a >/dev/null
	st-peers ban node-b --reason test >/dev/null
	st-peers ban 10.0.0.0/8 --permanent >/dev/null
	st-peers ban 192.0.2.1 >/dev/null
	st-peers stats -o prom >st.prom
	st-peers stats -o json >st.json
	run check st_peers st.prom st.json
	[ "$status" -eq 0 ] || { echo "$output"; cat st.prom; false; }
	grep -qx 'st_peers_in_book 2' st.prom
	grep -qx 'st_peers_peers_by_state{state="banned"} 1' st.prom
	grep -qx 'st_peers_peers_by_reputation{reputation="1..9"} 1' st.prom
	grep -qx 'st_peers_bans 3' st.prom
	grep -qx 'st_peers_bans_by_target{target="subnet"} 1' st.prom
	grep -qx 'st_peers_bans_by_target{target="address"} 1' st.prom
	grep -qx 'st_peers_bans_by_target{target="id"} 1' st.prom
	grep -qx 'st_peers_bans_by_expiry{expiry="permanent"} 1' st.prom
	# the text form says the same in a pipe
	run st-peers stats
	assert_line "bans total 3"
}

@test "-o prom is for stats only" {
	run st-addrbook list -o prom
	[ "$status" -eq 2 ]
	assert_line "st-addrbook: -o prom: only 'stats' prints metrics"
	run st-peers bans -o prom
	[ "$status" -eq 2 ]
}
