"""Entry point: ``igny8-agent`` and ``python -m igny8_agent``."""

import signal
import sys


def main() -> None:
    # Ctrl-C or SIGTERM while Python loads the agent: one line and 130, no
    # traceback (igny8_agent/__init__.py installed the same handlers already
    # when it was imported to run the agent). Only the standard library is
    # loaded before them.
    from igny8_agent import process

    try:
        process.handle_signals({signal.SIGTERM: process.exit_interrupted, signal.SIGINT: process.exit_interrupted})
        process.standard_streams()  # before anything can print or open a file
        process.no_core_dumps()
        # Give `structure` a head start: its database read overlaps loading the CLI.
        from igny8_agent import prefetch

        prefetch.start(sys.argv[1:])
        from igny8_agent.cli import main as run_cli
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were in place
        process.exit_interrupted(signal.SIGINT, None)

    run_cli()  # the guarded streams' flush at exit cannot fail


if __name__ == "__main__":
    main()
