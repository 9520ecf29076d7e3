# Seeds 5 and 6 of the beta-VAE dSprites study: 20 epochs (scored), then resumed to 40 (scored), two shards at a time.
# Stopped in its second command once seed 5, beta 1 and 4 had reached 40 epochs (session time); see chain2.sh and assemble.sh.
export PYTHONPATH=/tmp/bvrun7/src CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1
source /work/main/.venv/bin/activate
cd /work/main
python /tmp/bvrun7/benchmarks/betavae_shards.py reports/bv7/root --epochs 20 --seeds 5,6 --betas 1,4,16 --jobs 2 \
 && python /tmp/bvrun7/benchmarks/betavae_shards.py reports/bv7/root --epochs 40 --seeds 5,6 --betas 1,4,16 --jobs 2
