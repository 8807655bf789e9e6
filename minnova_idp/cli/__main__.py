"""`python -m minnova_idp.cli`: the minnova-idp command."""

import sys

from minnova_idp.cli.main import main

sys.exit(main())
