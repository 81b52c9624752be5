"""`python -m tools.dev.upload`: see tools/dev/upload/cli.py."""

import sys

from tools.dev.upload.cli import main

sys.exit(main())
