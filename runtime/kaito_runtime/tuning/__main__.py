import sys

from kaito_runtime.tuning.cli import main

sys.exit(main())
