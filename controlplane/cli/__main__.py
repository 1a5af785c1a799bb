"""`python -m controlplane.cli.commands`: the `wharf` command."""

from controlplane.cli.commands import main

raise SystemExit(main())
