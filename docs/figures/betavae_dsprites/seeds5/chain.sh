# Seeds 3 and 4 of the beta-VAE dSprites study: 20 epochs (scored), then resumed to 40 (scored), two shards at a time.
export PYTHONPATH=/tmp/bvrun5/src CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1
source /work/main/.venv/bin/activate
cd /work/main
python /tmp/bvrun5/benchmarks/betavae_shards.py reports/bv5/root --epochs 20 --seeds 3,4 --betas 1,4,16 --jobs 2 \
 && python /tmp/bvrun5/benchmarks/betavae_shards.py reports/bv5/root --epochs 40 --seeds 3,4 --betas 1,4,16 --jobs 2
