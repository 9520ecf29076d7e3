# After the 40-epoch chain was stopped once seeds 5's beta 1 and 4 had trained (its pool would have run seed 6 next,
# which could not finish in the session): seed 5, beta 16 alone, resumed from 20 to 40 epochs.
export PYTHONPATH=/tmp/bvrun7/src CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1
source /work/main/.venv/bin/activate
cd /work/main
python /tmp/bvrun7/benchmarks/betavae_shards.py reports/bv7/root --epochs 40 --seeds 5 --betas 16 --jobs 1
