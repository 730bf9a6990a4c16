"""The project's main job (README command 1): the PQEq demo table, water cluster and NaCl crystal in
and out of a field. It grows with the project towards MD on the shipped default model."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pqeq_demo import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[1:])
