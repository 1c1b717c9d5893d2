"""CLI subcommands; each module registers itself through `add_parser(subparsers)`."""
