# fish completion for the st programs; each program completes itself (PROG --complete).
function __st_complete
    set -l tokens (commandline -opc) (commandline -ct)
    set -l out ($tokens[1] --complete -- $tokens[2..-1] 2>/dev/null)
    switch "$out[1]"
        case @file
            __fish_complete_path (commandline -ct)
        case @dir
            __fish_complete_directories (commandline -ct)
        case '*'
            printf '%s\n' $out
    end
end
for prog in st-addrbook st-peers st-connect st-keygen st-listen st-seed st-crawl
    complete -c $prog -f -a '(__st_complete)'
end
