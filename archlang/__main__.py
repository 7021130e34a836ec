from archlang.cli import main

main(prog_name="archlang")
