from igny8_agent.cli import main

main()
