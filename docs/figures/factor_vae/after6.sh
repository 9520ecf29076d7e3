#!/usr/bin/env bash
# after6.sh: once seeds 4 and 5 are trained and scored: the report over seeds 0-5 (assemble.sh for seeds 0-5),
# the TC estimators of both new FactorVAE runs, and a fresh discriminator on seed 0's retrained beta-VAE 4
while pgrep -f "one.sh [45] 1" > /dev/null; do sleep 20; done
cd /work/main
docs/figures/factor_vae/assemble.sh reports/fv20/all6 0 1 2 3 4 5 > reports/fv20/assemble6.log 2>&1  # ran as assemble6.sh, the same script for seeds 0-5
for s in 4 5; do
  CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tc_estimators.py reports/fv20/s$s/betavae-dsprites/runs/fgamma35-d10-s$s > reports/fv20/tc_estimators-s$s.jsonl &
done
wait
CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tc_estimators.py reports/fv20/vae-s0/betavae-dsprites/runs/beta4-d10-s0 --refit-steps 4000 --batches 20 > reports/fv20/refit-beta4-s0.jsonl
