#!/usr/bin/env bats
# What every program shares: help, version, usage errors, man pages and completions in step.

load helpers

@test "every program prints --help within one screen and exits 0" {
	for p in $(programs); do
		run "$p" --help
		[ "$status" -eq 0 ] || { echo "$p --help: $status"; false; }
		[[ "${lines[0]}" == "usage: $p "* ]] || { echo "$p: ${lines[0]}"; false; }
		[ "${#lines[@]}" -le 40 ] || { echo "$p --help: ${#lines[@]} lines"; false; }
	done
}

@test "every program prints its version" {
	for p in $(programs); do
		run "$p" --version
		[ "$status" -eq 0 ]
		[ "$output" = "$p $(cat "$ST_TOP/VERSION")" ]
	done
}

@test "an unknown option is a usage error with exit 2" {
	for p in $(programs); do
		run "$p" --no-such-option
		[ "$status" -eq 2 ] || { echo "$p: $status $output"; false; }
		[[ "$output" == *"$p: unknown option '--no-such-option'"* ]]
	done
}

@test "a config nested past 64 levels is refused at once, naming file, line and column, exit 65" {
	# 40k levels cost libyaml 5.5 s before the limit; no program reads past the check
	python3 -c 'print("addrbook:\n  x: " + "[" * 40000 + "]" * 40000)' >"$BATS_TEST_TMPDIR/deep.yaml"
	local cmd p
	for cmd in "st-addrbook stats" "st-peers list" "st-connect 127.0.0.1:1" st-listen \
		"st-seed refresh" st-keygen; do
		p=${cmd%% *}
		# shellcheck disable=SC2086 # the command's words
		run $p --config "$BATS_TEST_TMPDIR/deep.yaml" ${cmd#"$p"}
		[ "$status" -eq 65 ] || { echo "$p: $status $output"; false; }
		[[ "$output" == *"$p: $BATS_TEST_TMPDIR/deep.yaml:2:68: nested deeper than 64 levels"* ]] ||
			{ echo "$p: $output"; false; }
	done
}

@test "a bad -o format is a usage error naming the choices" {
	for p in $(programs); do
		run "$p" -o yaml --help
		[ "$status" -eq 2 ] || { echo "$p: $status $output"; false; }
		[[ "$output" == *"-o: "* ]]
	done
}

@test "every option a program completes is documented in its man page" {
	for p in $(programs); do
		[ -f "$ST_TOP/man/$p.1" ] || { echo "no man/$p.1"; false; }
		subs=$("$p" --complete -- "" | cut -f1)
		for ctx in "" $subs; do
			for opt in $("$p" --complete -- $ctx -- | cut -f1); do
				grep -qE "Fl -${opt#--}( |$)" "$ST_TOP/man/$p.1" ||
					grep -qE "^\.It Fl -${opt#--}" "$ST_TOP/man/$p.1" ||
					{ echo "$p ${ctx:+$ctx }$opt: not in man/$p.1"; false; }
			done
		done
	done
}

@test "completions offer subcommands, options and file names" {
	for p in $(programs); do
		run "$p" --complete -- --he
		[ "$status" -eq 0 ]
		[ "$output" = $'--help\tshow this help and exit' ]
		run "$p" --complete -- --output=t
		[ "$output" = "$(printf -- '--output=text\n--output=tsv')" ]
		run "$p" --complete -- --config ""
		[ "$output" = "@file" ]
		run "$p" --complete -- -o ""
		[ "$output" = "$(printf 'text\ntsv\njson')" ]
	done
}

@test "--help, the man page's SYNOPSIS and its OPTIONS name the same options" {
	for p in $(programs); do
		run "$ST_TOP/tests/bats/tools/man-options" "$p" "$ST_TOP/man/$p.1"
		[ "$status" -eq 0 ] || { echo "$output"; false; }
	done
	# and the check sees a difference: a page that lacks an option fails it
	grep -v -- '-update' "$ST_TOP/man/st-connect.1" >st-connect.1
	run "$ST_TOP/tests/bats/tools/man-options" st-connect st-connect.1
	[ "$status" -eq 1 ]
	assert_line "st-connect.1: SYNOPSIS lacks --update (in --help)"
	assert_line "st-connect.1: OPTIONS lacks --update (in --help)"
}

@test "a mistyped command or option gets a did-you-mean" {
	run st-addrbook lsit
	[ "$status" -eq 2 ]
	assert_line "st-addrbook: unknown command 'lsit' (did you mean 'list'?)"
	run st-peers list --sortt=id
	[ "$status" -eq 2 ]
	assert_line "st-peers: unknown option '--sortt=id' (did you mean '--sort'?)"
	run st-keygen --forse
	assert_line "st-keygen: unknown option '--forse' (did you mean '--force'?)"
	# nothing near: no guess
	run st-seed zzzzzz
	[ "$status" -eq 2 ]
	assert_line "st-seed: unknown command 'zzzzzz'"
	run st-listen --no-such-option
	assert_line "st-listen: unknown option '--no-such-option'"
}

@test "PROG help [COMMAND] is PROG [COMMAND] --help" {
	for p in $(programs); do
		run "$p" help
		[ "$status" -eq 0 ]
		[ "$output" = "$("$p" --help)" ] || { echo "$p help: $output"; false; }
		for c in $("$p" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p'); do
			run "$p" help "$c"
			[ "$status" -eq 0 ]
			[ "$output" = "$("$p" "$c" --help)" ] || { echo "$p help $c: $output"; false; }
		done
	done
	run st-peers help bna
	[ "$status" -eq 2 ]
	assert_line "st-peers: unknown command 'bna' (did you mean 'ban'?)"
}

@test "the man pages pass mandoc -Tlint" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	run mandoc -Tlint -Wwarning "$ST_TOP"/man/*.[157]
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "libst.a prints nothing on stdout or stderr, never exits, installs no signal handler" {
	run nm -A "$ST_BUILD/libst.a"
	[ "$status" -eq 0 ]
	nm_out=$output
	run grep -E ' U (stdout|stderr|printf|vprintf|puts|putchar|perror|exit|_exit|_Exit|abort|err|errx|warn|warnx|signal|sigaction|raise)$' <<<"$nm_out"
	[ "$status" -eq 1 ]
	# libevent's signal events are macros over event_new: look in the source
	run grep -rlE 'evsignal_|EV_SIGNAL' "$ST_TOP/lib"
	[ "$status" -eq 1 ]
	# and the process-level part is linked into the programs instead
	run grep -E '^(.*:)?cli\.o:' <<<"$nm_out"
	[ "$status" -eq 1 ]
}
