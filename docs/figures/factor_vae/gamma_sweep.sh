#!/usr/bin/env bash
# gamma_sweep.sh: seed 0's FactorVAE at gamma 10 and 100 (20 epochs, the study's networks and settings,
# one thread each, side by side), then one report beside gamma 35 (the recorded seed-0 run, scores
# only) and the retrained seed-0 VAE (scores only); every score of the report is cached.
# Session of 2026-12-07 (sixth): the two runs ran as run() does, from a clone at b2e7018 (its src on
# PYTHONPATH, /work/main/.venv's cfae); the report then ran as `PATH=/work/main/.venv/bin:$PATH gamma_sweep.sh report`.
set -e
sweep=${SWEEP:-/tmp/fvsweep}
figures=/work/main/docs/figures/factor_vae/runs
run() {  # run GAMMA: one FactorVAE, beside a copy of the VAE's scores (--betas 1 reads them, trains nothing)
  mkdir -p $sweep/g$1/betavae-dsprites/runs
  [ -e $sweep/g$1/betavae-dsprites/runs/beta1-d10-s0 ] || cp -r $figures/retrained-s0/beta1-d10-s0 $sweep/g$1/betavae-dsprites/runs/
  CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 cfae reproduce betavae-dsprites --out $sweep/g$1 --seeds 0 --betas 1 \
    --factor-gammas $1 --epochs 20 --no-baselines --mnist-epochs 0 --sweep-betas "" --sweep-latent-dims "" --quiet
}
if [ "$1" != "report" ]; then
  run 10 > $sweep/g10.log 2>&1 &
  run 100 > $sweep/g100.log 2>&1 &
  wait
fi
runs=$sweep/all/betavae-dsprites/runs
mkdir -p $runs
for g in 10 100; do [ -e $runs/fgamma$g-d10-s0 ] || cp -al $sweep/g$g/betavae-dsprites/runs/fgamma$g-d10-s0 $runs/; done
for r in retrained-s0/beta1-d10-s0 fgamma35-d10-s0; do [ -e $runs/$(basename $r) ] || cp -r $figures/$r $runs/; done
CFAE_DATA=/work/shared/data OMP_NUM_THREADS=2 cfae reproduce betavae-dsprites --out $sweep/all --seeds 0 --betas 1 \
  --factor-gammas 10,35,100 --epochs 20 --no-baselines --mnist-epochs 0 --sweep-betas "" --sweep-latent-dims "" --quiet
