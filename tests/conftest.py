import os
import sys

# Lets test modules import the shared references in tests/reference.py.
sys.path.insert(0, os.path.dirname(__file__))
