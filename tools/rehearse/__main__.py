import sys

from tools.rehearse.cli import main

sys.exit(main())
