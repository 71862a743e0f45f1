"""One module per group of subcommands; each exposes ``add_parser(sub)`` and its handlers."""
