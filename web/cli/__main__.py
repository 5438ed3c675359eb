"""`python -m web.cli`: the same as the `aftersales` command."""
from web.cli import main

main(prog_name="aftersales")
