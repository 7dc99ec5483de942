"""Entry point: ``igny8-agent`` and ``python -m igny8_agent``."""

import sys


def main() -> None:
    import signal

    from igny8_agent.errors import Interrupted

    def terminated(signum: int, frame: object) -> None:
        raise Interrupted("terminated (SIGTERM)")

    # Ctrl-C or SIGTERM while Python loads the agent: one line and 130, no traceback.
    signal.signal(signal.SIGTERM, terminated)
    try:
        # Give `structure` a head start: its database read overlaps loading the CLI.
        from igny8_agent import prefetch

        prefetch.start(sys.argv[1:])
        from igny8_agent.cli import main as run_cli
    except (KeyboardInterrupt, Interrupted):
        sys.stderr.write("igny8-agent: interrupted; nothing was done\n")
        sys.exit(130)

    run_cli()


if __name__ == "__main__":
    main()
