#!/usr/bin/env bash
# Merge the ladder DReG shards (seeds 0 and 1 of three variants) into /tmp/ladder-dreg and write one report.
set -e
all=/tmp/ladder-dreg
rm -rf $all && mkdir -p $all/runs
cp /tmp/lv/reports/ladder-iwae-s0/results.json $all/
shards=()
for d in /tmp/lv/reports/ladder-iwae-s1 /tmp/lv/reports/ladder-dreg-s0 /tmp/lv/reports/ladder-dreg-s1 /tmp/lvh/reports/ladder-unshared-s0 /tmp/lvh/reports/ladder-unshared-s1; do
  [ -e $d/results.json ] && shards+=($d)
done
for d in /tmp/lv/reports/ladder-*-s[01] /tmp/lvh/reports/ladder-unshared-s[01]; do cp -al $d/runs/* $all/runs/ 2>/dev/null || true; done
cd /work/main
CFAE_DATA=/work/shared/data PYTHONPATH=/work/main/src .venv/bin/python -m cfae merge-results $all "${shards[@]}"
CFAE_DATA=/work/shared/data OMP_NUM_THREADS=2 PYTHONPATH=/work/main/src .venv/bin/python -m cfae reproduce ladder-vae --preset cpu --out $all --seeds 0,1 --layers 5 --ladder-variants LVAE+WU+IW10,LVAE+WU+IW10+DReG,LVAE+WU+IW10+DReG-unshared --report-only --quiet
