#!/usr/bin/env bash
# vae_s0.sh: seed 0's VAE and beta-VAE 4 retrained at 20 epochs with checkpoints kept, for their exact TC
# (the recorded runs kept scores only); scored like every run of the study
out=/work/main/reports/fv20/vae-s0
cd /tmp/fvrun/main
PYTHONPATH=/tmp/fvrun/main/src CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 /work/main/.venv/bin/cfae reproduce betavae-dsprites --out $out --seeds 0 --betas 1,4 --epochs 20 --no-baselines --mnist-epochs 0 --sweep-betas "" --sweep-latent-dims "" --quiet
for b in 1 4; do
  CFAE_DATA=/work/shared/data OMP_NUM_THREADS=1 /work/main/.venv/bin/python /work/main/benchmarks/tc_estimators.py $out/betavae-dsprites/runs/beta$b-d10-s0 > /work/main/reports/fv20/tc_estimators-beta$b-s0.jsonl
done
