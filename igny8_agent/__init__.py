"""igny8-agent: push a WordPress site's structure to the IGNY8 backend."""

import sys as _sys

__version__ = "0.1.0"

# Imported to run the agent (``python -m igny8_agent``, where sys.argv[0] is
# "-m" while the module is located, or the ``igny8-agent`` script): a Ctrl-C
# or SIGTERM from here on ends the load with one line and 130, not a traceback.
if _sys.argv[:1] == ["-m"] or _sys.argv[0].endswith("igny8-agent"):
    import signal as _signal

    from igny8_agent import process as _process

    _process.handle_signals({_signal.SIGTERM: _process.exit_interrupted, _signal.SIGINT: _process.exit_interrupted})
