"""What spark-submit runs: the analyzer's command line, under the session spark-submit set up."""

import sys

from analyzer.__main__ import main

sys.exit(main())
