"""``python -m advrec`` runs the command line."""

import sys

from advrec.cli import main

sys.exit(main())
