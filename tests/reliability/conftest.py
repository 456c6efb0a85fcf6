import os
import sys

# reliability helpers importable as `reliability_support`
sys.path.insert(0, os.path.dirname(__file__))
