from heimdall_studio.core.sources_state import forget_working_directory

forget_working_directory()

from heimdall_studio.cli.main import main  # noqa: E402

raise SystemExit(main())
