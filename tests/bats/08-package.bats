#!/usr/bin/env bats
# What an operator installs: make install / uninstall, make deb, the systemd
# units and the /etc/spacetime/st.yaml example.

load helpers

st_make() {
	make -s --no-print-directory -C "$ST_TOP" BUILD="$ST_BUILD" "$@"
}

@test "make uninstall takes away everything make install put down" {
	dest=$BATS_TEST_TMPDIR/dest
	run st_make install DESTDIR="$dest" PREFIX=/usr/local
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	for p in $(programs); do
		[ -x "$dest/usr/local/bin/$p" ] || { echo "no $p"; false; }
		[ -f "$dest/usr/local/share/man/man1/$p.1" ]
		[ -e "$dest/usr/local/share/bash-completion/completions/$p" ]
		[ -e "$dest/usr/local/share/fish/vendor_completions.d/$p.fish" ]
	done
	for m in "$ST_TOP"/man/*.[57]; do
		m=${m##*/}
		[ -f "$dest/usr/local/share/man/man${m##*.}/$m" ] || { echo "no $m"; false; }
	done
	[ -f "$dest/usr/local/share/zsh/vendor-completions/_st" ]
	# systemd reads /usr/local/lib/systemd/system; st reads /etc/spacetime/st.yaml
	[ -f "$dest/usr/local/lib/systemd/system/st-listen.service" ]
	[ -f "$dest/usr/local/lib/systemd/system/st-seed-refresh.timer" ]
	[ -f "$dest/usr/local/lib/sysusers.d/spacetime.conf" ]
	[ -f "$dest/etc/spacetime/st.yaml" ]
	# the units name the programs where this install put them
	grep -q "^ExecStart=/usr/local/bin/st-listen " "$dest/usr/local/lib/systemd/system/st-listen.service"
	run st_make uninstall DESTDIR="$dest" PREFIX=/usr/local
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run find "$dest" ! -type d
	[ "$status" -eq 0 ]
	[ -z "$output" ] || { echo "left behind: $output"; false; }
}

@test "make install and uninstall leave an operator's own st.yaml alone" {
	dest=$BATS_TEST_TMPDIR/dest
	mkdir -p "$dest/etc/spacetime"
	echo "lock_wait: 1m" >"$dest/etc/spacetime/st.yaml"
	run st_make install DESTDIR="$dest" PREFIX=/usr
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(cat "$dest/etc/spacetime/st.yaml")" = "lock_wait: 1m" ]
	run st_make uninstall DESTDIR="$dest" PREFIX=/usr
	[ "$(cat "$dest/etc/spacetime/st.yaml")" = "lock_wait: 1m" ]
	run find "$dest" ! -type d
	[ "$output" = "$dest/etc/spacetime/st.yaml" ]
}

@test "make deb: a package that installs programs, man pages, completions, units and a conffile" {
	command -v dpkg-deb >/dev/null || skip "dpkg-deb is not installed"
	command -v dpkg-shlibdeps >/dev/null || skip "dpkg-dev is not installed"
	# lintian takes half a minute: make deb runs it, this smoke test does not
	ST_LINTIAN=no ST_DEB_COMPRESS=gzip run st_make deb DEBDIR="$BATS_TEST_TMPDIR"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	deb=$(ls "$BATS_TEST_TMPDIR"/st_*.deb)
	run dpkg-deb -f "$deb" Package Version Depends
	assert_line "Package: st"
	assert_line "Version: $(cat "$ST_TOP/VERSION")"
	assert_line --regexp '^Depends: .*libevent.*'
	run dpkg-deb -I "$deb" conffiles
	[ "$output" = /etc/spacetime/st.yaml ]
	root=$BATS_TEST_TMPDIR/root
	dpkg -x "$deb" "$root"
	for p in $(programs); do
		run "$root/usr/bin/$p" --version
		[ "$status" -eq 0 ] && [ "$output" = "$p $(cat "$ST_TOP/VERSION")" ] || { echo "$p: $output"; false; }
		# man -w, as man itself finds a page: the manpath of the scratch root
		run man -M "$root/usr/share/man" -w "$p"
		[ "$status" -eq 0 ] && [ "$output" = "$root/usr/share/man/man1/$p.1.gz" ] || { echo "$p: $output"; false; }
		[ -e "$root/usr/share/bash-completion/completions/$p" ]
		[ -e "$root/usr/share/fish/vendor_completions.d/$p.fish" ]
	done
	run man -M "$root/usr/share/man" -w 5 st.yaml
	[ "$output" = "$root/usr/share/man/man5/st.yaml.5.gz" ]
	run man -M "$root/usr/share/man" -w 7 st-protocol
	[ "$status" -eq 0 ]
	# the bash completion from the package answers
	run bash -c "source '$root/usr/share/bash-completion/completions/st-peers'; complete -p st-peers"
	[ "$output" = "complete -F _st_complete st-peers" ]
	[ -f "$root/usr/share/zsh/vendor-completions/_st" ]
	[ -f "$root/lib/systemd/system/st-listen.service" ]
	grep -q '^ExecStart=/usr/bin/st-listen ' "$root/lib/systemd/system/st-listen.service"
	[ -f "$root/usr/share/doc/st/copyright" ]
	[ -f "$root/etc/spacetime/st.yaml" ]
}

@test "the systemd units pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	# installed under a scratch prefix, so that the programs and pages they name exist
	t=$BATS_TEST_TMPDIR/sd
	run st_make install DESTDIR= PREFIX="$t/usr" SYSCONFDIR="$t/etc" \
		SYSTEMDUNITDIR="$t/units" SYSUSERSDIR="$t/sysusers.d"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	MANPATH=$t/usr/share/man run systemd-analyze verify "$t"/units/*
	[ "$status" -eq 0 ] && [ -z "$output" ] || { echo "$output"; false; }
	for k in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes CapabilityBoundingSet= \
		ReadWritePaths=/var/lib/spacetime StateDirectory=spacetime User=spacetime Type=notify; do
		grep -qx "$k" "$t/units/st-listen.service" || { echo "st-listen.service: no $k"; false; }
	done
	# and verify does find fault: a unit naming a program that is not there
	sed 's|st-listen --config|st-no-such-program --config|' "$t/units/st-listen.service" \
		>"$t/broken.service"
	MANPATH=$t/usr/share/man run systemd-analyze verify "$t/broken.service"
	[ "$status" -ne 0 ]
}

@test "the st.yaml example names every config key, and as written it is the defaults" {
	example=$ST_BUILD/st.yaml
	[ -f "$example" ]
	# commented out, it changes nothing
	run st-listen --config "$example" --print-config
	[ "$status" -eq 0 ]
	# every key the programs know is in it, each with a comment above it
	keys=$(st-listen --print-config | awk '/^[a-z_]+:/ { s = $1; sub(":", "", s) } /^  [a-z_]+:/ { k = $1; sub(":", "", k); print s "." k; next } /^[a-z_]+: / { k = $1; sub(":", "", k); print k }' | grep -v '^seeds$')
	[ -n "$keys" ]
	for k in $keys; do
		leaf=${k#*.}
		grep -qE "^#( *)$leaf: " "$example" || { echo "$k: not in the example"; false; }
	done
	# uncommented, it loads, sets every key from the file, and sets them to the defaults
	sed 's/^#\([^ ]\|  \)/\1/' "$example" >st.yaml
	run st-listen --config st.yaml --print-config
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	uncommented=$output
	run grep -cE '  # file$' <<<"$uncommented"
	[ "$output" -eq "$(wc -w <<<"$keys")" ] || { echo "$uncommented"; false; }
	# the same values as the defaults, up to the seeds (none by default, two in the example)
	diff <(st-listen --print-config | sed 's/  # .*//' | sed '1d; /^seeds/,$d') \
		<(sed 's/  # .*//' <<<"$uncommented" | sed '1d; /^seeds/,$d') >&2
	[[ "$uncommented" == *'url: "https://seeds.example.net/peers.txt"'* ]]
}
