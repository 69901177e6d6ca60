#!/usr/bin/env bash
# Prints the Debian upstream version of this tree (no Debian revision).
#   packaging/version.sh            from git
#   packaging/version.sh 1.2.3      from a given version (a leading v and
#                                   -rc/-beta suffixes are mapped)
# From git:
#   tag v1.2.3 on HEAD              -> 1.2.3
#   3 commits after v1.2.3          -> 1.2.3+git20261125.3.abc1234
#   no tag                          -> 0.1.0~git20261125.abc1234
#   uncommitted changes             -> ... with .dirty appended
# The date is HEAD's commit date (UTC), so a rebuild of one commit gives
# the same version; ~ sorts before the release it leads up to.
set -euo pipefail
cd "$(dirname "$0")/.."

# The release the untagged history leads up to.
NEXT=0.1.0

valid() { [[ "$1" =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; }

if [ $# -gt 0 ] && [ -n "$1" ]; then
  v=${1#v}
  v=$(printf '%s' "$v" | sed -E 's/-(rc|alpha|beta|pre)/~\1/; s/-/+/g; s/_/./g')
  valid "$v" || { echo "version.sh: cannot map '$1' to a Debian version" >&2; exit 1; }
  echo "$v"; exit 0
fi

if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "${NEXT}~unknown"; exit 0
fi
hash=$(git rev-parse --short=7 HEAD)
date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d HEAD)
dirty=""
if ! git diff --quiet HEAD -- 2>/dev/null; then dirty=".dirty"; fi

if desc=$(git describe --tags --long --match 'v[0-9]*' HEAD 2>/dev/null); then
  # v1.2.3-N-gHASH
  n=${desc%-g*}; n=${n##*-}
  tag=${desc%-*-g*}; tag=${tag#v}
  tag=$(printf '%s' "$tag" | sed -E 's/-(rc|alpha|beta|pre)/~\1/; s/-/+/g')
  if [ "$n" = 0 ]; then v="$tag"; else v="${tag}+git${date}.${n}.${hash}"; fi
else
  v="${NEXT}~git${date}.${hash}"
fi
v="${v}${dirty}"
valid "$v" || { echo "version.sh: '$v' is not a valid Debian version" >&2; exit 1; }
echo "$v"
