#!/usr/bin/env bash
# Builds the deployment package Terraform zips: build/package/bootstrap (the `sluice` binary
# for Lambda's arm64 provided.al2023 runtime) and build/package/sluice.json (the pipeline,
# evaluated from Jsonnet once here, so a cold start only parses JSON).
#
#   deploy/package.sh configs/my-pipeline.jsonnet
#
# The binary comes from `cargo lambda build --release --arm64` (pip install cargo-lambda; it
# brings Zig for the cross-link). Without cargo-lambda, any aarch64-unknown-linux-gnu build of
# the `sluice` binary (glibc 2.34 or older, which Amazon Linux 2023 satisfies) works: set
# SLUICE_BINARY to its path.
set -euo pipefail
cd "$(dirname "$0")/.."

config="${1:?usage: deploy/package.sh CONFIG (.jsonnet or .json)}"
out=deploy/build/package
mkdir -p "$out"

if [ -n "${SLUICE_BINARY:-}" ]; then
  cp "$SLUICE_BINARY" "$out/bootstrap"
else
  cargo lambda build --release --arm64 --bin sluice
  cp target/lambda/sluice/bootstrap "$out/bootstrap"
fi
chmod 755 "$out/bootstrap"

# `sluice vet` first: a config that does not build would fail every cold start.
cargo run --quiet --release -p sluice -- vet "$config"
cargo run --quiet --release -p sluice -- build "$config" >"$out/sluice.json"
echo "package: $out (bootstrap $(du -h "$out/bootstrap" | cut -f1), sluice.json $(wc -c <"$out/sluice.json") bytes)"
