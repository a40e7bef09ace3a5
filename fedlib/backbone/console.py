"""What the backbone code shows on the console: its own progress log, and less of transformers'."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import transformers

# Progress of the one-off builds is worth seeing without any logging setup, so this logger gets
# its own handler (like transformers' library logger); silence it with setLevel(logging.WARNING).
# One logger for the whole package, named after it, so that one call silences every module.
log = logging.getLogger("fedlib.backbone")
if not log.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[fedlib] %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class _DropLoadReport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in record.getMessage()


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide progress bars and the load report, whose only news (a new head) is expected.

    The report is filtered rather than the logger's level raised: a level of WARNING or more
    makes transformers 5 run (and log) a tensor-parallel plan check instead.
    """
    report_logger = logging.getLogger("transformers.modeling_utils")
    report_filter = _DropLoadReport()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    report_logger.addFilter(report_filter)
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        report_logger.removeFilter(report_filter)
        if bars:
            transformers.utils.logging.enable_progress_bar()
