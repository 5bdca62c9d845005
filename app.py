#!/usr/bin/env python3
"""Neural Texture Studio. `python app.py` opens the window; `python app.py train|infer|info` runs headless."""
import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
