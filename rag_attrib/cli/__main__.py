"""``python -m rag_attrib.cli``: the same as the ``rag-attrib`` command."""

import sys

from . import main

sys.exit(main())
