from avenrae.cli import run

run()
