"""``python -m seqframe`` runs the command line."""

from seqframe.cli import main

raise SystemExit(main())
