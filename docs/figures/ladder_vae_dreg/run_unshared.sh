#!/usr/bin/env bash
# LVAE+WU+IW10+DReG-unshared, 5 layers, cpu preset, seeds one after another, one thread
cd /tmp/lvh
mkdir -p reports
for s in ${SEEDS:-0 1 2}; do
  CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 PYTHONPATH=/tmp/lvh/src /work/main/.venv/bin/python -m cfae reproduce ladder-vae --preset cpu --out reports/ladder-unshared-s$s --seeds $s --layers 5 --ladder-variants LVAE+WU+IW10+DReG-unshared --quiet > reports/unshared-s$s.log 2>&1
done
