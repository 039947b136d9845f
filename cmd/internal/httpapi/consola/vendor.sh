#!/usr/bin/env bash
# Vendors Chart.js, which the console's charts use, from the npm registry
# (`make vendor-chartjs`): downloads the pinned package, checks it against
# the registry's integrity hash pinned here, copies its browser build and
# licence into vendor/, and checks those against vendor/SHA256SUMS, the
# hashes the Go tests also hold the embedded files to.
#
# To move to another version: set VERSION and INTEGRITY (`npm view
# chart.js@<version> dist.integrity`), run with UPDATE=1 to rewrite
# SHA256SUMS, read the diff, and run the console's browser test.
set -euo pipefail
VERSION=4.6.1
INTEGRITY=sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==

command -v npm >/dev/null || { echo "vendor.sh: needs npm (apt-get install -y npm)" >&2; exit 1; }
cd "$(dirname "$0")/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "chart.js@$VERSION" >/dev/null)
tgz="$tmp/chart.js-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [[ $got != "$INTEGRITY" ]]; then
	echo "vendor.sh: chart.js@$VERSION is $got, pinned $INTEGRITY" >&2
	exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/dist/chart.umd.min.js package/LICENSE.md
# The file is kept byte for byte as published (its sourceMappingURL
# comment included: browsers fetch the map only with developer tools open).
cp "$tmp/package/dist/chart.umd.min.js" chart.umd.min.js
cp "$tmp/package/LICENSE.md" chart.js.LICENSE.md
if [[ ${UPDATE:-} == 1 ]]; then
	sha256sum chart.umd.min.js chart.js.LICENSE.md >SHA256SUMS
fi
sha256sum -c SHA256SUMS
echo "vendor.sh: chart.js $VERSION vendored and checked"
