"""`python -m tools.pipeline_checks.verify`: see tools/pipeline_checks/verify/cli.py."""

import sys

from tools.pipeline_checks.verify.cli import main

sys.exit(main())
