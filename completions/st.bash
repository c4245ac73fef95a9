# bash completion for the st programs (made by tools/gen-completions).
# Each program completes itself: `PROG --complete -- WORDS...` prints
# WORD<TAB>DESCRIPTION lines, or @file / @dir for names from the file system.
_st_complete() {
	local cur words cword
	if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
		# whole words: --output=json and [::1]:7777 are one word to the program
		_get_comp_words_by_ref -n =: -c cur -w words -i cword
	else
		cur=${COMP_WORDS[COMP_CWORD]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
	fi
	local IFS=$'\n' out line pre=
	out=$("${words[0]}" --complete -- "${words[@]:1:cword}" 2>/dev/null) || return 0
	COMPREPLY=()
	case $out in
	@file | @dir)
		[[ $cur == --*=* ]] && cur=${cur#*=} # --config=FILE: readline has the part after =
		compopt -o filenames 2>/dev/null
		if [ "$out" = @dir ]; then
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		fi
		return 0
		;;
	esac
	# readline replaces only what follows the last = or : of the word
	[[ $cur == *[=:]* ]] && pre=${cur%"${cur##*[=:]}"}
	for line in $out; do
		[ -n "$line" ] || continue
		line=${line%%$'\t'*}
		COMPREPLY+=("${line#"$pre"}")
	done
	return 0
}
complete -F _st_complete st-addrbook st-connect st-crawl st-keygen st-listen st-peers st-seed
