"""The one logging setup: records and Python warnings go where it says, not elsewhere."""

from __future__ import annotations

import logging
import warnings

from fieldkit.logsetup import setup_logging


def test_warnings_go_to_the_log_file_not_the_terminal(tmp_path, capsys):
    log = tmp_path / "demo.log"
    # An earlier test's setup (any CLI command) left capture on, with pytest's recorder as
    # the saved showwarning: start from off, as a fresh process does.
    logging.captureWarnings(False)
    try:
        setup_logging("INFO", file=log)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("`torch.jit.trace` is deprecated", FutureWarning, stacklevel=1)
        logging.getLogger("fieldkit.test").info("node T01: new -> running")
    finally:
        logging.captureWarnings(False)
        setup_logging("WARNING")
    text = log.read_text()
    assert "WARNING py.warnings" in text
    assert "FutureWarning: `torch.jit.trace` is deprecated" in text
    assert "INFO    fieldkit.test: node T01: new -> running" in text
    captured = capsys.readouterr()
    assert "deprecated" not in captured.err + captured.out
