"""`python -m xdsclient.cli` is the `xds` command."""

import sys

from xdsclient.cli import main

sys.exit(main())
