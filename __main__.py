"""Minnova IDP Pulumi program: `pulumi up` on a stack of a client deployment."""

from pathlib import Path

from components.program import main

main(Path(__file__).resolve().parent)
