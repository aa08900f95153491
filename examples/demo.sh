#!/usr/bin/env bash
# `make demo`: run the example pipeline (examples/python-project) end to end through a real,
# embedded Stockade — server, agent, sandboxes — and print the result.
#
# `make demo` first installs the system packages and the virtualenv (its `venv` dependency). This
# script then makes a git working copy of the example (a pipeline runs a commit), builds the default
# runner image if it is missing (with a progress display; minutes the first time, cached after),
# and runs `stockade run` on it. The exit status is the pipeline's: 0 passed, 1 failed,
# 2 invalid input, 3 infrastructure failure.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${STOCKADE_PYTHON:-$repo_root/.venv/bin/python}
export STOCKADE_HOME=${STOCKADE_HOME:-$repo_root/.stockade}

if [ "$(id -u)" != 0 ]; then
  echo "demo: the sandboxes need root (cgroups, mounts, user namespaces); run as root" >&2
  exit 3
fi
if [ ! -x "$python" ]; then
  echo "demo: no virtualenv at $repo_root/.venv; run \`make demo\` (it installs everything)" >&2
  exit 3
fi

work=$(mktemp -d /tmp/stockade-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
project="$work/python-project"
cp -r "$repo_root/examples/python-project" "$project"
find "$project" -name __pycache__ -prune -exec rm -rf {} +

# A deterministic commit: same content, same author and date, same SHA on every machine.
export GIT_AUTHOR_NAME="Stockade Demo" GIT_AUTHOR_EMAIL="demo@stockade.invalid"
export GIT_COMMITTER_NAME="Stockade Demo" GIT_COMMITTER_EMAIL="demo@stockade.invalid"
export GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z"
git -C "$project" -c init.defaultBranch=main init -q
git -C "$project" add -A
git -C "$project" -c commit.gpgsign=false commit -q -m "wordstats example"
echo "demo: example project committed at $(git -C "$project" rev-parse --short=12 HEAD) in $project"

status=0
"$python" -m stockade run "$project" || status=$?
if [ "$status" = 0 ]; then
  echo "demo: the example pipeline passed"
else
  echo "demo: the example pipeline did not pass (exit status $status)" >&2
fi
exit "$status"
