from warcflow.cli import main

raise SystemExit(main())
