#!/usr/bin/env bash
# refit.sh: a fresh discriminator, 4000 steps, on the frozen encoders of seed 0 (VAE retrained, FactorVAE, beta-TCVAE);
# tc_estimators seeds its initial weights with --seed (0)
cd /work/main
run() { CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tc_estimators.py $1 --refit-steps 4000 --batches 20 > $2; }
run reports/fv20/vae-s0/betavae-dsprites/runs/beta1-d10-s0 reports/fv20/refit-beta1-s0.jsonl &
run reports/fv20/s0/betavae-dsprites/runs/fgamma35-d10-s0 reports/fv20/refit-fgamma35-s0.jsonl &
run reports/tc20/all/betavae-dsprites/runs/tcbeta6-d10-s0 reports/fv20/refit-tcbeta6-s0.jsonl &
wait
