# bash completion for the st programs. Each program completes itself:
# `PROG --complete -- WORDS...` prints the candidates for the last word, or
# @file / @dir when a file or directory name belongs there.
_st_complete() {
	local cur=${COMP_WORDS[COMP_CWORD]} out IFS=$'\n'
	out=$("${COMP_WORDS[0]}" --complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
	case $out in
	@file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
	@dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
	*) mapfile -t COMPREPLY <<<"$out"; [ -z "$out" ] && COMPREPLY=() ;;
	esac
	return 0
}
complete -F _st_complete st-addrbook st-peers st-connect st-keygen st-listen st-seed st-crawl
