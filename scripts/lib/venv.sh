# Sourced by the scripts: makes sure .venv exists and matches requirements.txt.
# Re-installs only when requirements.txt changed since the last install.

ensure_venv() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        echo "error: Python 3.11 or newer is required (tried '$python'; set PYTHON=…)" >&2
        return 1
    fi
    if [[ ! -x .venv/bin/python ]]; then
        echo "==> creating .venv with $("$python" --version)" >&2
        "$python" -m venv .venv
    fi
    local want have
    want="$(sha256sum requirements.txt | cut -d' ' -f1)"
    have="$(cat .venv/.requirements.sha256 2>/dev/null || true)"
    if [[ "$want" != "$have" ]]; then
        echo "==> installing requirements.txt into .venv" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
        echo "$want" > .venv/.requirements.sha256
    fi
}
