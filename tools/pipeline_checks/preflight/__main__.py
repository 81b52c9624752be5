import sys

from tools.pipeline_checks.preflight.cli import main

sys.exit(main())
