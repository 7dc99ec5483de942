"""Entry point: ``igny8-agent`` and ``python -m igny8_agent``."""

import sys


def main() -> None:
    # Give `structure` a head start: its database read overlaps loading the CLI.
    from igny8_agent import prefetch

    prefetch.start(sys.argv[1:])
    from igny8_agent.cli import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
