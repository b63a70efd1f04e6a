"""pykit's command line: one module per subcommand, imported when used."""
