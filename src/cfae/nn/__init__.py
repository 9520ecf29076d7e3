"""Reusable network blocks: MLP and conv encoders/decoders, likelihoods, divergences, schedules."""
