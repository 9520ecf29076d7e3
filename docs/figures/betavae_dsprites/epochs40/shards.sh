# Two shard chains of `cfae reproduce betavae-dsprites`, 40 epochs, resuming the 20-epoch runs
# (copies of reports/bv20/all/betavae-dsprites/runs/* in reports/bv40/{a,b}), from the clone /tmp/bvrun40 (commit pinned).
export PYTHONPATH=/tmp/bvrun40/src CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1
source /work/main/.venv/bin/activate
common="--epochs 40 --sweep-latent-dims '' --mnist-epochs 0 --no-baselines --quiet"
chain_a() { eval cfae reproduce betavae-dsprites --out reports/bv40/a --seeds 0 --betas 1,4,16 $common && eval cfae reproduce betavae-dsprites --out reports/bv40/a --seeds 2 --betas 1,4 $common; }
chain_b() { eval cfae reproduce betavae-dsprites --out reports/bv40/b --seeds 1 --betas 1,4,16 $common && eval cfae reproduce betavae-dsprites --out reports/bv40/b --seeds 2 --betas 16 $common; }
( /usr/bin/time -v bash -c "$(declare -f chain_a); common=\"$common\"; chain_a" > reports/bv40/a.log 2>&1 & )
( /usr/bin/time -v bash -c "$(declare -f chain_b); common=\"$common\"; chain_b" > reports/bv40/b.log 2>&1 & )
