"""``python -m kafkapy``: the same as the ``kafkapy`` command."""

import sys

from kafkapy.cli import main

sys.exit(main())
