"""Entry point: ``igny8-agent`` and ``python -m igny8_agent``."""

import signal
import sys


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # while loading; the CLI installs its own handler


def main() -> None:
    # Ctrl-C or SIGTERM while Python loads the agent: one line and 130, no
    # traceback. Nothing else is imported before this handler is in place.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        # Give `structure` a head start: its database read overlaps loading the CLI.
        from igny8_agent import prefetch

        prefetch.start(sys.argv[1:])
        from igny8_agent.cli import main as run_cli
    except KeyboardInterrupt:
        sys.stderr.write("igny8-agent: interrupted; nothing was done\n")
        sys.exit(130)

    run_cli()


if __name__ == "__main__":
    main()
