"""`python -m tools.upload`: see tools/upload/cli.py."""

import sys

from tools.upload.cli import main

sys.exit(main())
