import sys

from clarity_agent.cli import main

sys.exit(main())
