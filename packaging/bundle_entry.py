"""The standalone bundle's executable: the `heimdall-studio` command line, plus ``-m MODULE ARGS…``.

The app starts helper processes as ``sys.executable -m MODULE`` (the engine, the About dialog's
ONNX Runtime check, the Qt platform check). In a bundle ``sys.executable`` is this program, so it
runs those modules itself, as Python would.
"""

import runpy
import sys


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [module, *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    from heimdall_studio.cli.main import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
