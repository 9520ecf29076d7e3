#!/usr/bin/env bash
# after.sh: once seeds 2 and 3 are trained and scored, the TC estimators of every FactorVAE run
# and of the beta-TCVAE runs of seeds 0 and 1 (tc20), one after another, one thread
while pgrep -f "one.sh [23] 1" > /dev/null; do sleep 20; done
cd /work/main
for s in 0 1 2 3; do
  CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tc_estimators.py reports/fv20/s$s/betavae-dsprites/runs/fgamma35-d10-s$s > reports/fv20/tc_estimators-s$s.jsonl
done
for s in 0 1; do
  CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tc_estimators.py reports/tc20/all/betavae-dsprites/runs/tcbeta6-d10-s$s > reports/fv20/tc_estimators-tcbeta6-s$s.jsonl
done
