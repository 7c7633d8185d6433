#!/usr/bin/env bash
# Re-create the vendored GraphiQL assets in assets/graphiql/ from npm.
#
# The versions and tarball integrity hashes below are pinned, so running this
# script again produces byte-identical files. To upgrade, change a version,
# run with UPDATE_INTEGRITY=1 once (it prints the new hashes instead of
# failing), paste the printed hashes back in here, and update
# assets/graphiql/README.md.
#
# Needs: bash, node, npm, tar. Uses the npm registry configured for npm.
# Works in a temporary directory; only the files listed in FILES are written
# into assets/graphiql/ (index.html and README.md are hand-written and are
# left alone).
set -euo pipefail

GRAPHIQL_VERSION=3.9.0
REACT_VERSION=18.3.1
REACT_DOM_VERSION=18.3.1

# "name version integrity" (integrity = sha512 of the npm tarball, as npm reports it)
PACKAGES=(
  "graphiql ${GRAPHIQL_VERSION} sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA=="
  "react ${REACT_VERSION} sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ=="
  "react-dom ${REACT_DOM_VERSION} sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw=="
)

# "package path-inside-tarball destination-file-name"
FILES=(
  "graphiql package/graphiql.min.js graphiql.min.js"
  "graphiql package/graphiql.min.css graphiql.min.css"
  "react package/umd/react.production.min.js react.production.min.js"
  "react-dom package/umd/react-dom.production.min.js react-dom.production.min.js"
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${repo_root}/assets/graphiql"
mkdir -p "${dest}"

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

sri() { # prints "sha512-<base64>" of a file
  node -e 'const c=require("crypto"),f=require("fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
}

integrity_mismatch=0
for entry in "${PACKAGES[@]}"; do
  read -r name version integrity <<<"${entry}"
  echo "==> npm pack ${name}@${version}"
  tarball="$(cd "${tmp}" && npm pack --silent "${name}@${version}" | tail -n 1)"
  actual="$(sri "${tmp}/${tarball}")"
  if [[ "${actual}" != "${integrity}" ]]; then
    if [[ "${UPDATE_INTEGRITY:-0}" == 1 ]]; then
      echo "    new integrity for ${name}@${version}: ${actual}"
    else
      echo "ERROR: integrity mismatch for ${name}@${version}" >&2
      echo "  expected ${integrity}" >&2
      echo "  got      ${actual}" >&2
      integrity_mismatch=1
    fi
  fi
  mkdir -p "${tmp}/${name}"
  tar -xzf "${tmp}/${tarball}" -C "${tmp}/${name}"
done
if [[ "${integrity_mismatch}" != 0 ]]; then
  exit 1
fi

for entry in "${FILES[@]}"; do
  read -r name src out <<<"${entry}"
  # Drop the trailing "//# sourceMappingURL=..." / "/*# sourceMappingURL=... */"
  # comment: the .map files are not vendored, and the comment would only make
  # browser dev tools request a file the server does not have.
  sed -e '/^\/\/# sourceMappingURL=/d' -e '/^\/\*# sourceMappingURL=.*\*\/$/d' \
    "${tmp}/${name}/${src}" >"${dest}/${out}"
  echo "    ${out} <- ${name}@$(node -p "require('${tmp}/${name}/package/package.json').version") ${src}"
done

# Licence texts of the vendored packages (all MIT), kept next to the files.
{
  for name in graphiql react react-dom; do
    version="$(node -p "require('${tmp}/${name}/package/package.json').version")"
    echo "==== ${name}@${version} ($(node -p "require('${tmp}/${name}/package/package.json').license")) ===="
    echo
    cat "${tmp}/${name}/package/LICENSE"
    echo
  done
} >"${dest}/THIRD_PARTY_LICENSES.txt"

echo "==> written to assets/graphiql/:"
(cd "${dest}" && ls -l)
