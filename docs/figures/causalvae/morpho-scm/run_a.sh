export PYTHONPATH=/tmp/cvrun/src CFAE_DATA=/work/shared/data CFAE_CACHE=/tmp/cvcache OMP_NUM_THREADS=1
cd /tmp/cvrun
date
/work/main/.venv/bin/python -m cfae.cli reproduce causalvae --dataset morpho-scm --preset cpu --out /tmp/cvrun/reports/cv-morpho --seeds 0
date
