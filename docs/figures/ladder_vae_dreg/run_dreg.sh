#!/usr/bin/env bash
# LVAE+WU+IW10 (iwae) and LVAE+WU+IW10+DReG, 5 layers, cpu preset; per seed the two side by side, one thread each
cd /tmp/lv
one() { CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 PYTHONPATH=/tmp/lv/src /work/main/.venv/bin/python -m cfae reproduce ladder-vae --preset cpu --out reports/ladder-$1-s$2 --seeds $2 --layers 5 --ladder-variants $3 --quiet > reports/$1-s$2.log 2>&1; }
mkdir -p reports
for s in ${SEEDS:-0 1}; do one iwae $s LVAE+WU+IW10 & one dreg $s LVAE+WU+IW10+DReG & wait; done
