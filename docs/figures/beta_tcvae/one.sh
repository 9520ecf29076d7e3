#!/usr/bin/env bash
# one.sh SEED: seed SEED's beta-TCVAE (beta 6) at 20 epochs beside its recorded VAE / beta-VAE scores
cd /work/main
CFAE_DATA=../shared/data OMP_NUM_THREADS=1 .venv/bin/cfae reproduce betavae-dsprites --out reports/tc20/s$1 --seeds $1 --betas 1,4 --tc-betas 6 --epochs 20 --no-baselines --mnist-epochs 0 --sweep-betas "" --sweep-latent-dims "" --quiet
