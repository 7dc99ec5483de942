"""Entry point: ``igny8-agent`` and ``python -m igny8_agent``."""

import os
import signal
import sys

_INTERRUPTED = b"igny8-agent: interrupted; nothing was done\n"


def _interrupted(signum: int, frame: object) -> None:
    """While loading nothing has been written yet: say so and stop at once,
    without unwinding through half-done imports. The CLI installs its own
    handlers once it is loaded."""
    try:
        os.write(2, _INTERRUPTED)
    except OSError:
        pass
    os._exit(130)


def main() -> None:
    # Ctrl-C or SIGTERM while Python loads the agent: one line and 130, no
    # traceback. Only the standard library is loaded before the handlers.
    try:
        from igny8_agent import process

        process.handle_signals({signal.SIGTERM: _interrupted, signal.SIGINT: _interrupted})
        process.standard_streams()  # before anything can print or open a file
        process.no_core_dumps()
        # Give `structure` a head start: its database read overlaps loading the CLI.
        from igny8_agent import prefetch

        prefetch.start(sys.argv[1:])
        from igny8_agent.cli import main as run_cli
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were in place
        _interrupted(signal.SIGINT, None)

    run_cli()  # the guarded streams' flush at exit cannot fail


if __name__ == "__main__":
    main()
