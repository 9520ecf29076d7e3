#!/usr/bin/env bash
# Issue 14's long run: beta-VAE on the generated dSprites, one process per (seed, beta), one report.
#
#   bash benchmarks/betavae_shards.sh EPOCHS ROOT [JOBS] [SECONDS]
#
# Each (seed, beta) of SEEDS x BETAS (default 0,1,2 x 1,4,16) trains and is scored by
# `cfae reproduce betavae-dsprites` in its own folder ROOT/shards/s<seed>-b<beta>, JOBS at a time
# (default: all at once), one thread each. When every shard has finished, ROOT/all links their runs
# together and writes the report and figures without training again, and ROOT/betavae.tar.gz packs
# everything but the checkpoints. Run it again with the same ROOT to resume. SECONDS (default 0: no
# limit) stops the shards that long after the start; the report then waits for a later call.
# Prints one JSON line per shard and one for the report. EXTRA holds options for every reproduce
# call (a smoke test: EXTRA="--limit 256 --fast").
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: betavae_shards.sh EPOCHS ROOT [JOBS] [SECONDS]" >&2; exit 2; }
epochs=$1 root=$2 jobs=${3:-0} seconds=${4:-0}
seeds=${SEEDS:-0,1,2} betas=${BETAS:-1,4,16} extra=${EXTRA:-}
deadline=$(( seconds > 0 ? $(date +%s) + seconds : 0 ))
mkdir -p "$root/shards"
export epochs root deadline extra

shard() {  # shard SEED BETA: train and score one model; a JSON line with its exit status and seconds
    local name="s$1-b$2" start=$SECONDS limit=()
    if [ "$deadline" -gt 0 ]; then
        local left=$(( deadline - $(date +%s) ))
        [ "$left" -gt 0 ] || { echo "{\"shard\": \"$name\", \"rc\": 124, \"seconds\": 0}"; return; }
        limit=(timeout "$left")
    fi
    # shellcheck disable=SC2086  # extra holds several options
    OMP_NUM_THREADS=1 "${limit[@]}" python3 -m cfae.cli reproduce betavae-dsprites --out "$root/shards/$name" \
        --seeds "$1" --betas "$2" --epochs "$epochs" --sweep-latent-dims '' --mnist-epochs 0 --no-baselines \
        --quiet $extra >"$root/shards/$name.log" 2>&1
    echo "{\"shard\": \"$name\", \"rc\": $?, \"seconds\": $((SECONDS - start))}"
}
export -f shard

pairs=$(for s in ${seeds//,/ }; do for b in ${betas//,/ }; do echo "$s $b"; done; done)
count=$(wc -l <<<"$pairs")
[ "$jobs" -gt 0 ] || jobs=$count
xargs -P "$jobs" -L 1 bash -c 'shard "$@"' _ <<<"$pairs" | tee "$root/shards.jsonl"
failed=$(grep -vc '"rc": 0,' "$root/shards.jsonl")
if [ "$failed" -gt 0 ]; then
    echo "{\"report\": \"waits\", \"shards_failed\": $failed}"
    tar czf "$root/betavae.tar.gz" -C "$root" --exclude=checkpoints shards shards.jsonl
    exit 1
fi

start=$SECONDS
runs="$root/all/betavae-dsprites/runs"
rm -rf "$runs" && mkdir -p "$runs"
for name in $(cut -d' ' -f1,2 --output-delimiter=-b <<<"$pairs"); do
    cp -al "$root/shards/s$name/betavae-dsprites/runs/"* "$runs/"
done
# shellcheck disable=SC2086
python3 -m cfae.cli reproduce betavae-dsprites --out "$root/all" --seeds "$seeds" --betas "$betas" --epochs "$epochs" \
    --sweep-latent-dims 10 --sweep-betas "$betas" --mnist-epochs 0 --no-baselines --quiet $extra >"$root/all.log" 2>&1
rc=$?
echo "{\"report\": \"$root/all/betavae-dsprites/report.md\", \"rc\": $rc, \"seconds\": $((SECONDS - start))}"
tar czf "$root/betavae.tar.gz" -C "$root" --exclude=checkpoints shards shards.jsonl all all.log
exit $rc
