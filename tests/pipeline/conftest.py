import sys
from pathlib import Path

# toy_steps is imported by name ("toy_steps:CountingSource") from recipes in these tests.
sys.path.insert(0, str(Path(__file__).parent))
