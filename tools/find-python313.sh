#!/usr/bin/env bash
# Print the path of a working Python 3.13 interpreter (the Lambda runtime), or fail with a clear message.
# pyenv installs a `python3.13` shim that only works with PYENV_VERSION set, so try the real binaries first.
set -u
candidates=()
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -rV); do
    prefix=$(pyenv prefix "$v" 2>/dev/null) && candidates+=("$prefix/bin/python3.13")
  done
fi
[ -n "${PYTHON313:-}" ] && candidates=("$PYTHON313" "${candidates[@]}")
candidates+=(/usr/local/bin/python3.13 /usr/bin/python3.13)
command -v python3.13 >/dev/null 2>&1 && candidates+=("$(command -v python3.13)")
for py in "${candidates[@]}"; do
  if [ -x "$py" ] && "$py" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then
    echo "$py"; exit 0
  fi
done
echo "error: Python 3.13 (the Lambda runtime) was not found. Install it (e.g. 'pyenv install 3.13.0')" \
     "or point PYTHON313 at a python3.13 binary." >&2
exit 1
