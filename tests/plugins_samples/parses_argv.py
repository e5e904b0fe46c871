"""A sample plugin whose import parses the command line as if it were the program, which
ends the process (argparse exits 2) when seqframe's own arguments are on it."""

import argparse

parser = argparse.ArgumentParser(prog="sample-plugin")
parser.add_argument("--sample-only", action="store_true")
parser.parse_args()
