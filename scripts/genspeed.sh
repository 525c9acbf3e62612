#!/usr/bin/env bash
# Times the resgen binary on pgx v5's Tx and go-redis v9's Cmdable, warm
# (median of 5 runs) and with a cold build cache (a fresh GOCACHE, as on a
# new CI machine; the module cache stays), with peak memory. `make bench`
# runs it; the README's "How fast" quotes it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/resgen" "$repo/cmd/resgen"
cd "$work"
{
  echo "module example.com/genspeed"
  echo "go 1.26"
  echo "require github.com/resgen-dev/resgen v0.0.0-00010101000000-000000000000"
  grep -E '^\s+(github.com/jackc/pgx/v5|github.com/redis/go-redis/v9) ' "$repo/go.mod" | sed 's/^\s*/require /'
  echo "replace github.com/resgen-dev/resgen => $repo"
} > go.mod
cp "$repo/go.sum" .
echo 'package genspeed' > doc.go
export GOFLAGS=-mod=mod GOWORK=off

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for target in "Tx github.com/jackc/pgx/v5" "Cmdable github.com/redis/go-redis/v9"; do
  set -- $target
  "$work/resgen" -type "$1" -output "$1.go" "$2" # warm the cache
  warm=$(for i in 1 2 3 4 5; do
    /usr/bin/time -f %e "$work/resgen" -type "$1" -output "$1.go" "$2" 2>&1 >/dev/null | tail -1
  done | median)
  cold=$(GOCACHE=$(mktemp -d -p "$work") /usr/bin/time -f "%e s, %M KiB peak" \
    "$work/resgen" -type "$1" -output "$1.go" "$2" 2>&1 >/dev/null | tail -1)
  echo "$1: warm ${warm} s (median of 5); cold cache ${cold}"
done
