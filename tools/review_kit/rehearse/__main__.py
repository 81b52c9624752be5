import sys

from tools.review_kit.rehearse.cli import main

sys.exit(main())
