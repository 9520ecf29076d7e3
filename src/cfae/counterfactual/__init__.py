"""Counterfactual methods; each returns one CounterfactualResult, so one set of metrics scores them all."""

from cfae.counterfactual.intervene import intervene
from cfae.counterfactual.result import CounterfactualResult

__all__ = ["CounterfactualResult", "intervene"]
