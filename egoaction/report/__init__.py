"""Run reports: Markdown + HTML summaries of a training run directory, with PNG figures."""

from egoaction.report.run_report import read_run, write_report

__all__ = ["read_run", "write_report"]
