# bash completion for kioskd                                -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/kioskd; also printed
# by `kioskd completion bash`. The flags of each command are read from its
# own --help, so this file never lags behind the binary.

_kioskd()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd=${COMP_WORDS[1]} sub=
    COMPREPLY=()

    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "run demo devices check-config status leds leds-off version completion help --help --version" -- "$cur"))
        return
    fi

    case $prev in
        --config|--token-file|--tls-cert|--tls-key)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --socket|--ledclass-root)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --log-format)
            COMPREPLY=($(compgen -W "auto journal json text" -- "$cur"))
            return ;;
        --camera)
            COMPREPLY=($(compgen -W "auto test none $(ls -d /dev/v4l/by-id/* 2>/dev/null)" -- "$cur"))
            return ;;
        --microphone|--speaker)
            COMPREPLY=($(compgen -W "default test none" -- "$cur"))
            return ;;
        --for)
            COMPREPLY=($(compgen -W "10s 30s 1m 2m 5m" -- "$cur"))
            return ;;
        --dialect)
            COMPREPLY=($(compgen -W "kioskd livekit" -- "$cur"))
            return ;;
    esac

    case $cmd in
        help)
            [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W "run demo devices check-config status leds leds-off version completion help" -- "$cur"))
            return ;;
        completion)
            [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W "bash" -- "$cur"))
            return ;;
        leds)
            if [[ $COMP_CWORD -eq 2 ]]; then
                COMPREPLY=($(compgen -W "test identify off" -- "$cur"))
                return
            fi
            sub=${COMP_WORDS[2]} ;;
    esac

    # The command's flags, as its --help lists them ("  -config string").
    local flags
    flags=$("${COMP_WORDS[0]}" $cmd $sub --help 2>/dev/null | sed -n 's/^  \(--[a-z][-a-z]*\).*/\1/p')
    COMPREPLY=($(compgen -W "$flags --help" -- "$cur"))
} &&
complete -F _kioskd kioskd
