from egoaction.cli import main

raise SystemExit(main())
