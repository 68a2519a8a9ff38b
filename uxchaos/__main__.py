from uxchaos.cli import main

raise SystemExit(main())
