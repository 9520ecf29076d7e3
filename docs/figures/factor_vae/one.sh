#!/usr/bin/env bash
# one.sh SEED THREADS: seed SEED's FactorVAE (gamma 35) at 20 epochs beside its recorded VAE scores
set -e
seed=$1; threads=${2:-1}
out=/work/main/reports/fv20/s$seed
mkdir -p $out/betavae-dsprites/runs
[ -e $out/betavae-dsprites/runs/beta1-d10-s$seed ] || cp -al /work/main/reports/tc20/all/betavae-dsprites/runs/beta1-d10-s$seed $out/betavae-dsprites/runs/
cd /tmp/fvrun/main
PYTHONPATH=/tmp/fvrun/main/src CFAE_DATA=/work/shared/data OMP_NUM_THREADS=$threads /work/main/.venv/bin/cfae reproduce betavae-dsprites --out $out --seeds $seed --betas 1 --factor-gammas 35 --epochs 20 --no-baselines --mnist-epochs 0 --sweep-betas "" --sweep-latent-dims "" --quiet
