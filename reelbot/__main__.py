from reelbot.cli import main

raise SystemExit(main())
