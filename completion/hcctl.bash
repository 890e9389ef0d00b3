# bash completion for hcctl: subcommands, flags, files, and VIP and node names asked of the running agent.
# Installed as /usr/share/bash-completion/completions/hcctl (bash-completion loads it on first use).

# Names from `hcctl SUBCOMMAND --json` (a JSON array of objects with "name"): one second at most, nothing on error.
_hcctl_names() {
    local socket=() word
    for ((word = 1; word < COMP_CWORD; word++)); do
        [[ ${COMP_WORDS[word]} == --socket ]] && socket=(--socket "${COMP_WORDS[word + 1]}")
    done
    timeout 1 hcctl "${socket[@]}" "$@" --json 2>/dev/null | sed -n 's/^    "name" : "\(.*\)",\{0,1\}$/\1/p'
}

_hcctl() {
    local cur prev words=() i command="" sub="" subsub=""
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    # The first words that are not options (and not an option's value) name the command.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --socket|--config|--name|--interface|--address|--state-dir|--cluster|--admin-key-out|--out|--key|--sign|--generation|--to) ((i++)) ;;
            -*) ;;
            *) words+=("${COMP_WORDS[i]}") ;;
        esac
    done
    command=${words[0]:-}
    sub=${words[1]:-}
    subsub=${words[2]:-}

    case $prev in
        --socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --config|--out|--key|--sign|--admin-key-out) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --state-dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --interface) COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
        --to) COMPREPLY=($(compgen -W "$(_hcctl_names members)" -- "$cur")); return ;;
        --name|--address|--cluster|--generation) return ;;
    esac

    local board="--config --name --interface --address --state-dir --force --no-start --help"
    local options words_for=""
    case $command in
        "") words_for="status members units vip probes events keys plan apply reload drain undrain init join import help --socket --help --version" ;;
        status) words_for="--json --watch --socket --help" ;;
        members|units|probes|events) words_for="--json --socket --help" ;;
        reload) words_for="--socket --help" ;;
        drain|undrain)
            [[ -z $sub ]] && options=$(_hcctl_names members)
            words_for="$options --socket --help" ;;
        vip)
            case $sub in
                "") words_for="show handover --json --socket --help" ;;
                show) words_for="--json --socket --help" ;;
                handover)
                    [[ -z $subsub ]] && options=$(_hcctl_names vip show)
                    words_for="$options --to --socket --help" ;;
            esac ;;
        keys)
            case $sub in
                "") words_for="list install use remove admin node --socket --help" ;;
                list|install|use|remove) words_for="--socket --help" ;;
                node) words_for="--config --key --help" ;;
                admin)
                    case $subsub in
                        "") words_for="generate public sign --help" ;;
                        generate) words_for="--out --help" ;;
                        public) words_for="--key --help" ;;
                        sign) words_for="--key --generation --help"; [[ $cur != -* ]] && { compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return; } ;;
                    esac ;;
            esac ;;
        plan|apply)
            if [[ $cur == -* ]]; then
                [[ $command == plan ]] && words_for="--json --socket --help" || words_for="--sign --socket --help"
            else
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -f -- "$cur"))
                return
            fi ;;
        init) words_for="$board --cluster --keep-admin-key --admin-key-out" ;;
        join) words_for="$board" ;;
        import)
            if [[ -z $sub ]]; then
                words_for="keepalived --help"
            else
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -f -- "$cur"))
                return
            fi ;;
        help) words_for="status members units vip probes events keys plan apply reload drain undrain init join import" ;;
    esac
    COMPREPLY=($(compgen -W "$words_for" -- "$cur"))
}

complete -F _hcctl hcctl
