from archlang.cli import run

run()
