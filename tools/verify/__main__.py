"""`python -m tools.verify`: see tools/verify/cli.py."""

import sys

from tools.verify.cli import main

sys.exit(main())
