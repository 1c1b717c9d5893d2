from realtime_adain.cli import main

raise SystemExit(main())
