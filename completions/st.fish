# fish completion for the st programs (made by tools/gen-completions).
# Each program completes itself: `PROG --complete -- WORDS...` prints
# WORD<TAB>DESCRIPTION lines (fish's own form), or @file / @dir.
function __st_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l out ($tokens[1] --complete -- $tokens[2..-1] "$cur" 2>/dev/null)
    set -l pre (string match -r -- '^--[^=]+=' $cur)
    set -l base (string sub -s (math (string length -- "$pre") + 1) -- $cur)
    switch "$out[1]"
        case @file
            printf '%s\n' "$pre"(__fish_complete_path $base)
        case @dir
            printf '%s\n' "$pre"(__fish_complete_directories $base)
        case '*'
            printf '%s\n' $out
    end
end
for prog in st-addrbook st-connect st-crawl st-keygen st-listen st-peers st-seed
    complete -c $prog -f -a '(__st_complete)'
end
