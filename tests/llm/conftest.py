import sys
from pathlib import Path

# the scripted OpenAI-compatible server lives in tests/support
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
