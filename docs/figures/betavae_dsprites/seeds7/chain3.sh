# Seed 6 of the beta-VAE dSprites study, resumed from its 20-epoch checkpoints to 40 epochs, two shards at a time.
export PYTHONPATH=/tmp/bvrun8/src CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1
source /work/main/.venv/bin/activate
cd /work/main
python /tmp/bvrun8/benchmarks/betavae_shards.py reports/bv7/root --epochs 40 --seeds 6 --betas 1,4,16 --jobs 2
