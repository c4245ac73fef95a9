#!/usr/bin/env bats
# What every program shares: help, version, usage errors, man pages and completions in step.

load helpers

programs() {
	local p
	for p in "$ST_TOP"/cmd/st-*.c; do
		p=$(basename "$p" .c)
		[ -x "$ST_BUILD/$p" ] && echo "$p"
	done
}

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
		subs=$("$p" --complete -- "")
		for ctx in "" $subs; do
			for opt in $("$p" --complete -- $ctx --); do
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
		[ "$output" = "--help" ]
		run "$p" --complete -- --config ""
		[ "$output" = "@file" ]
		run "$p" --complete -- -o ""
		[ "$output" = "$(printf 'text\ntsv\njson')" ]
	done
}

@test "the man pages pass mandoc -Tlint" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	run mandoc -Tlint -Wwarning "$ST_TOP"/man/*.[157]
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "the bash completion script parses and registers every program" {
	run bash -c "source '$ST_TOP/completions/st.bash' && complete -p $(programs | tr '\n' ' ')"
	[ "$status" -eq 0 ]
}

@test "the zsh and fish completions name every program, and each has its own file" {
	for p in $(programs); do
		grep -qE "^#compdef( .*)? $p( |$)" "$ST_TOP/completions/_st" || { echo "_st: no $p"; false; }
		grep -qE "^for prog in( .*)? $p( |$)" "$ST_TOP/completions/st.fish" || { echo "st.fish: no $p"; false; }
		for f in "_$p" "$p.bash" "$p.fish"; do
			[ -e "$ST_TOP/completions/$f" ] || { echo "no completions/$f"; false; }
		done
	done
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
