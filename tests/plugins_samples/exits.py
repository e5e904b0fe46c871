"""A sample plugin whose import ends the process, as a script's ``sys.exit(3)`` would."""

import sys

sys.exit(3)
