"""The command line: one module per `infertap-analyzer` subcommand."""
