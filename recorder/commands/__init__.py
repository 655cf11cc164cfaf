"""One module per `trajrec` subcommand: each offers add_parser(subparsers) and run(args) -> ExitCode."""
