# Shared by scripts/run and scripts/test: make .venv and install the project
# into it, again only when pyproject.toml or the catalogues have changed.
# Usage: . scripts/_venv.sh [EXTRAS]
need_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    echo "poll needs Python 3.11 or newer: install it (apt-get install python3) and run again" >&2
    return 1
}

install_project() {
    local extras=${1:-} python stamp want
    python=$(need_python)
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    stamp=.venv/.poll-installed
    want=$(cat pyproject.toml poll/translations/*/LC_MESSAGES/*.po | sha256sum | cut -d' ' -f1)-$extras
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "installing poll into .venv ..."
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
        echo "$want" > "$stamp"
    fi
}
