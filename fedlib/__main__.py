import sys

from fedlib.cli import main

sys.exit(main())
