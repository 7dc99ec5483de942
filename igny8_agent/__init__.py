"""igny8-agent: push a WordPress site's structure to the IGNY8 backend."""

import sys as _sys

__version__ = "0.1.0"

# Imported to run the agent (``python -m igny8_agent``, where sys.argv[0] is
# "-m" while the module is located, or the ``igny8-agent`` script): a Ctrl-C
# or SIGTERM from here on ends the load with one line and 130, not a
# traceback. Nothing has been written yet, so the process just stops.
if _sys.argv[:1] == ["-m"] or _sys.argv[0].endswith("igny8-agent"):
    import _signal  # the C module: already loaded, nothing to run before the handler is in place
    import os as _os

    def _stop_loading(signum, frame):
        try:
            _os.write(2, b"igny8-agent: interrupted; nothing was done\n")
        except OSError:
            pass
        _os._exit(130)

    _signal.signal(_signal.SIGINT, _stop_loading)
    _signal.signal(_signal.SIGTERM, _stop_loading)
