#!/usr/bin/env bats
# The completions in the real shells: bash through bash-completion, zsh through
# compinit in a pseudo-terminal (tests/bats/tools/zsh-complete), fish through
# `complete -C`. All three are made by tools/gen-completions for every program
# and ask the program (PROG --complete); these check what the shell ends up offering.

load helpers

comp_dir() {
	echo "$ST_TOP/completions"
}

# bash_complete LINE...: what bash-completion's machinery gives for each LINE,
# in one bash (loading bash_completion is the slow part): "=== LINE", then the
# candidates one a line
bash_complete() {
	bash --norc --noprofile -c '
		source /usr/share/bash-completion/bash_completion || exit 3
		source "$1/st.bash" || exit 4
		shift
		for line; do
			echo "=== $line"
			COMP_LINE=$line COMP_POINT=${#line}
			# the words as readline splits them: runs of COMP_WORDBREAKS characters are words
			# too (bash-completion joins them again, looking at COMP_LINE)
			read -ra COMP_WORDS <<<"$(sed -E "s/([=:]+)/ \1 /g" <<<"$line")"
			[[ $line == *" " ]] && COMP_WORDS+=("")
			COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
			complete -p "${COMP_WORDS[0]}" >/dev/null || exit 5
			COMPREPLY=()
			_st_complete
			[ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"
		done' _ "$(comp_dir)" "$@"
}

# answer LINE: what the shell offered for LINE, from $out
answer() {
	awk -v want="=== $1" '$0 == want { on = 1; next } /^=== / { on = 0 } on' <<<"$out"
}

zsh_complete() {
	timeout 20 zsh -f "$ST_TOP/tests/bats/tools/zsh-complete" "$(comp_dir)" "$1"
}

fish_complete() {
	timeout 20 fish --no-config -c "source $(comp_dir)/st.fish; complete -C '$1'"
}

# a book with two endpoints and a peer, for the books' candidates
fill_books() {
	st-addrbook add --allow-private 127.0.0.1:7001 '[::1]:7002' >/dev/null 2>&1
	st-peers add node-abc 127.0.0.1:7001 >/dev/null 2>&1
}

@test "the generated scripts name every program the build made" {
	for p in $(programs); do
		grep -qE "^complete -F _st_complete( .*)? $p( |$)" "$(comp_dir)/st.bash" || { echo "bash: $p"; false; }
		grep -qE "^#compdef( .*)? $p( |$)" "$(comp_dir)/_st" || { echo "zsh: $p"; false; }
		grep -qE "^for prog in( .*)? $p( |$)" "$(comp_dir)/st.fish" || { echo "fish: $p"; false; }
	done
}

@test "bash: commands, options, --output= values, files and endpoints for every program" {
	[ -f /usr/share/bash-completion/bash_completion ] || skip "bash-completion is not installed"
	fill_books
	local ask=()
	for p in $(programs); do
		ask+=("$p --he" "$p --output=" "$p -o t" "$p --config Makef" "$p --data-dir=too")
	done
	cd "$ST_TOP"
	run bash_complete "${ask[@]}" "st-addrbook li" "st-addrbook list --sort=la" \
		"st-addrbook remove 127.0.0." "st-addrbook remove [::1]:" "st-peers show node-" \
		"st-peers help ba" "st-connect ses" "st-seed fetch --format " "st-keygen --ou" \
		"st-listen --max-" "st-listen --met" "st-addrbook stats --output=" "st-peers stats -o p" \
		"st-addrbook list -o p"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out=$output
	for p in $(programs); do
		[ "$(answer "$p --he")" = --help ] || { echo "$p: $(answer "$p --he")"; false; }
		[ "$(answer "$p --output=")" = "$(printf 'text\ntsv\njson')" ] ||
			{ echo "$p: $(answer "$p --output=")"; false; }
		[ "$(answer "$p -o t")" = "$(printf 'text\ntsv')" ] || { echo "$p: $(answer "$p -o t")"; false; }
		[ "$(answer "$p --config Makef")" = Makefile ] || { echo "$p: $(answer "$p --config Makef")"; false; }
		[ "$(answer "$p --data-dir=too")" = tools ] || { echo "$p: $(answer "$p --data-dir=too")"; false; }
	done
	[ "$(answer "st-addrbook li")" = list ]
	[ "$(answer "st-addrbook list --sort=la")" = last-seen ]
	[ "$(answer "st-addrbook remove 127.0.0.")" = 127.0.0.1:7001 ]
	# readline replaces only what follows the last ':' of the word
	[ "$(answer "st-addrbook remove [::1]:")" = 7002 ]
	[ "$(answer "st-peers show node-")" = node-abc ]
	[ "$(answer "st-peers help ba")" = "$(printf 'ban\nbans')" ]
	[ "$(answer "st-connect ses")" = session ]
	[ "$(answer "st-seed fetch --format ")" = "$(printf 'auto\ntext\njson\nbitcoin')" ]
	[ "$(answer "st-keygen --ou" | sort | tr '\n' ' ')" = "--out --output " ]
	[[ "$(answer "st-listen --max-")" == *--max-conns*--max-per-ip* ]]
	[ "$(answer "st-listen --met")" = --metrics ]
	# metrics are for stats: -o prom is offered there, and only there
	[ "$(answer "st-addrbook stats --output=")" = "$(printf 'text\ntsv\njson\nprom')" ]
	[ "$(answer "st-peers stats -o p")" = prom ]
	[ -z "$(answer "st-addrbook list -o p")" ]
}

# zsh_complete LINE...: one zsh for all the lines (compinit is what takes time)
zsh_complete() {
	timeout 60 zsh -f "$ST_TOP/tests/bats/tools/zsh-complete" "$(comp_dir)" "$@"
}

@test "zsh: compinit offers commands, options, values, files and endpoints, with descriptions" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	fill_books
	local ask=()
	for p in $(programs); do ask+=("$p --vers" "$p --output="); done
	cd "$ST_TOP"
	run zsh_complete "${ask[@]}" "st-addrbook pr" "st-peers ban --perm" "st-addrbook remove 127.0" \
		"st-seed verify --public-key Makef" "st-peers unban node" "st-keygen --out=too"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	out=$output
	for p in $(programs); do
		[ "$(answer "$p --vers")" = "--version -- show the version and exit" ] ||
			{ echo "$p: $(answer "$p --vers")"; false; }
		[ "$(answer "$p --output=" | sort | tr '\n' ' ')" = "--output=json --output=text --output=tsv " ] ||
			{ echo "$p: $(answer "$p --output=")"; false; }
	done
	[ "$(answer "st-addrbook pr")" = "prune -- remove stale and poor addresses" ]
	[ "$(answer "st-peers ban --perm")" = "--permanent -- ban until unbanned" ]
	[ "$(answer "st-addrbook remove 127.0")" = "127.0.0.1:7001 -- manual" ]
	[ "$(answer "st-seed verify --public-key Makef")" = "Makefile" ]
	[ "$(answer "st-peers unban node")" = "node-abc -- 127.0.0.1:7001" ]
	[ "$(answer "st-keygen --out=too" | sort -u)" = "tools" ]
}

@test "fish: complete -C offers commands, options, values and ids with descriptions" {
	command -v fish >/dev/null || skip "fish is not installed"
	fill_books
	for p in $(programs); do
		run fish_complete "$p --qu"
		[ "$status" -eq 0 ] && [ "$output" = $'--quiet\tprint errors only' ] || { echo "$p: $output"; false; }
		run fish_complete "$p -o "
		[ "$(sort <<<"$output" | tr '\n' ' ')" = "json text tsv " ] || { echo "$p: $output"; false; }
	done
	run fish_complete "st-peers stats -o "
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "json prom text tsv " ] || { echo "$output"; false; }
	run fish_complete "st-peers b"
	[ "${lines[0]}" = $'ban\tban a node id, an address or a subnet' ]
	run fish_complete "st-peers failure "
	[ "$output" = $'node-abc\t127.0.0.1:7001' ]
	run fish_complete "st-addrbook record 127.0.0.1:7001 "
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "fail ok " ]
	run fish_complete "st-addrbook list --sort=q"
	[ "$output" = "--sort=quality" ]
	cd "$ST_TOP"
	run fish_complete "st-addrbook import Makef"
	[ "$output" = $'Makefile\t' ] || [ "$output" = Makefile ]
	run fish_complete "st-addrbook --config=Makef"
	[ "${output%$'\t'}" = --config=Makefile ]
}

@test "the committed completions are the generator's output, with a name for every program" {
	tools=$ST_TOP/tools
	# shellcheck disable=SC2046
	"$tools/gen-completions" "$BATS_TEST_TMPDIR/gen" $(programs)
	run diff -r "$BATS_TEST_TMPDIR/gen" "$ST_TOP/completions"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	for p in $(programs); do
		[ -e "$ST_TOP/completions/$p.bash" ] && [ -e "$ST_TOP/completions/$p.fish" ] &&
			[ -e "$ST_TOP/completions/_$p" ]
	done
}
